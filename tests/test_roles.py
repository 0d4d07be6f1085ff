"""Every service call refuses the wrong role, and nothing changes when it does.

The services are found, not listed by hand: every public function in `models/`
that takes the acting user (`UserInfo`) must be classified below as a write
(with the action it needs) or as a read open to every signed-in role. A new
service that nobody classified fails `test_every_service_with_an_actor_is_classified`.
Then each write is called as every role: the roles the permission table refuses
get `PermissionDenied` before anything is read or written (dummy arguments are
enough, which also shows the check comes first: refusing does not reveal whether
a rubric or user exists), and the roles it allows get past the check. Services
that take the acting user's id (`user_id`) are held to the same table, and a
disabled account may do nothing at all.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
from rubricforge.models.accounts.auth import add_user
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, PERMISSIONS, Action, UserInfo
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.errors import PermissionDenied
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from rubricforge import models

pytestmark = pytest.mark.db

WRITES: dict[str, Action] = {
    "agreement.adjudication.adjudicate": Action.adjudicate,
    "agreement.adjudication.adjudication_queue": Action.adjudicate,
    "accounts.auth.add_user": Action.manage_users,
    "accounts.auth.disable_user": Action.manage_users,
    "accounts.auth.enable_user": Action.manage_users,
    "accounts.auth.set_password": Action.manage_users,
    "accounts.throttle.unlock": Action.manage_users,
    "rubrics.draft_store.save_drafts": Action.draft_rubric,
    "rubrics.drafting.draft_dataset": Action.draft_rubric,
    "llm.endpoints.check_endpoint": Action.manage_endpoints,
    "llm.endpoints.delete_endpoint": Action.manage_endpoints,
    "llm.endpoints.save_endpoint": Action.manage_endpoints,
    "judging.background.mark_abandoned": Action.run_judge,
    "judging.background.start_judge_run": Action.run_judge,
    "agreement.revision.flag_for_revision": Action.flag_revision,
    "agreement.revision.resolve_request": Action.edit_rubric,
    "agreement.revision.resolve_requests_for_new_version": Action.edit_rubric,
    "agreement.revision.save_version_resolving": Action.edit_rubric,
    "agreement.spotcheck.create_queue": Action.manage_spotchecks,
    "agreement.spotcheck.next_item": Action.label,
    "agreement.spotcheck.reveal": Action.label,
    "agreement.spotcheck.submit_label": Action.label,
    "agreement.corrections.change_label": Action.label,
    "agreement.corrections.undo_label": Action.label,
    "agreement.corrections.my_labels": Action.label,  # one's own labels: labellers only
    "rubrics.unsaved.discard_unsaved_edits": Action.edit_rubric,
    "rubrics.unsaved.list_unsaved_edits": Action.edit_rubric,
    "rubrics.unsaved.load_unsaved_edits": Action.edit_rubric,
    "rubrics.unsaved.save_unsaved_edits": Action.edit_rubric,
    "rubrics.versions.assign_prompts": Action.assign_prompts,
    "rubrics.versions.create_rubric": Action.edit_rubric,
    "rubrics.versions.save_version": Action.edit_rubric,
    "rubrics.versions.restore_version": Action.edit_rubric,
    "rubrics.workflow.approve": Action.review_rubric,
    "rubrics.workflow.reject": Action.review_rubric,
    "rubrics.workflow.reopen": Action.edit_rubric,
    "rubrics.workflow.retire": Action.retire_rubric,
    "rubrics.workflow.submit_for_review": Action.submit_rubric,
    "data.files.import_upload": Action.import_data,
    "data.exporter.create_snapshot": Action.export,
    "judging.flips.rejudge_changed": Action.run_judge,
    "data.importer.import_file": Action.import_data,
    "training.jobs.request_cancel": Action.train,
    "training.jobs.submit_job": Action.train,
    "training.thresholds.set_thresholds": Action.manage_gate,
    "judging.runs.run_judge": Action.run_judge,
    "judging.responses.generate_responses": Action.import_data,
    "judging.responses.import_responses": Action.import_data,
    "judging.rubric_check.check_rubrics": Action.run_judge,
    # Reads, but of what only who may export takes out: preference pairs of a snapshot.
    "judging.preference_pairs.snapshot_pairs": Action.export,
    "judging.preference_pairs.write_pairs": Action.export,
    "agreement.assignments.assign_items": Action.manage_spotchecks,
    "agreement.label_keys.save_label_keys": Action.label,
    "training.evaluation.run_eval": Action.train,
}
# Functions with a user_id that is not an actor.
NOT_ACTORS = {
    "core.audit.audit",
    "accounts.auth.get_active_user",
    "rubrics.queries.username_of",
    # The user's own sign-in session, opened after `authenticate` and ended on
    # disable or a new password (their callers check who may do that).
    "accounts.sessions.begin_session",
    "accounts.auth.revoke_user_sessions",
}
# Reads open to every signed-in role (the user only personalises the answer), and
# the permission checks themselves.
READS = {
    "agreement.queries.disagreements",
    "agreement.queues.list_queues",
    "agreement.label_keys.label_keys",  # the user's own keys, or the defaults
    "accounts.permissions.can",
    "accounts.permissions.require",
}
# Building blocks that record the acting user but leave the permission check to
# their callers, each of which is classified above (the editor, drafting and the
# importer all append rubric versions through `append_versions`).
INTERNAL = {"rubrics.append.append_versions"}

# Arguments by parameter name: plausible enough to reach the permission check,
# which must come before any of them is used.
DUMMY: dict[str, Any] = {
    "rubric_id": 1, "prompt_id": 1, "response_id": 1, "criterion_id": 1, "queue_id": 1,
    "request_id": 1, "version_id": 1, "endpoint_id": None, "prompt_ids": [1],
    "criteria": [], "drafts": [], "expected_lock_version": 1, "comment": "c", "note": "n",
    "username": "someone", "role": "annotator", "password": "long enough password",
    "met": True, "score": None, "reason": "r", "resolution": "r", "name": "n",
    "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "NO_KEY",
    "assignee_username": "someone", "config": None, "dataset": "d", "endpoint": None,
    "spec": None, "filters": None, "snapshot_id": 1, "concurrency": 1, "run_id": 1, "job_id": 1,
    "path": "/nonexistent.jsonl", "plan": None, "n": 1, "flt": None, "actor": "app",
    "data": b"", "filename": "upload.jsonl", "label_id": 1, "number": 1, "base": [], "edits": {},
    "min_kappa": 0.6, "min_labels": 30, "out_dir": "/nonexistent-pairs", "min_margin": 0.0,
    "annotator": "someone", "judge": None, "policy": None, "label": "l",
}  # fmt: skip


def services_with_an_actor(by: str = "UserInfo") -> dict[str, Callable[..., Any]]:
    """Public functions of models/ taking a UserInfo (by="UserInfo") or a user_id
    (by="user_id": none may act for someone by id alone)."""
    found = {}
    for info in pkgutil.walk_packages(models.__path__, "rubricforge.models."):
        module = importlib.import_module(info.name)
        short = info.name.removeprefix("rubricforge.models.")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            sig = inspect.signature(fn)
            params = sig.parameters.values()
            has_info = any("UserInfo" in str(p.annotation) for p in params)
            if has_info if by == "UserInfo" else ("user_id" in sig.parameters and not has_info):
                found[f"{short}.{name}"] = fn
    return found


SERVICES = services_with_an_actor()
ID_SERVICES = services_with_an_actor(by="user_id")


def test_every_service_with_an_actor_is_classified() -> None:
    assert set(SERVICES) == set(WRITES) | READS | INTERNAL
    assert set(ID_SERVICES) == NOT_ACTORS, "a service acts for someone: take `actor: UserInfo`"


def test_every_action_in_the_table_is_checked_by_some_service() -> None:
    assert set(Action) == set(WRITES.values())


@pytest.fixture
def people(engine: Engine) -> dict[Role, UserInfo]:
    out = {}
    with session_scope(engine) as s:
        for role in Role:
            user = add_user(s, f"{role.value}-x", role, "long enough password", actor=OPERATOR)
            out[role] = user
    return out


def snapshot_of_writes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).all()
        return {t: conn.scalar(text(f'SELECT count(*) FROM "{t}"')) for t in tables}


def call(fn: Callable[..., Any], engine: Engine, session: Session, user: UserInfo) -> None:
    kwargs: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if "UserInfo" in str(p.annotation):
            kwargs[p.name] = user
        elif p.name == "session":
            kwargs[p.name] = session
        elif p.name == "engine":
            kwargs[p.name] = engine
        elif p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        elif p.default is inspect.Parameter.empty:
            kwargs[p.name] = DUMMY[p.name]
    fn(**kwargs)


@pytest.mark.parametrize("service", sorted(WRITES))
def test_each_write_refuses_exactly_the_roles_the_table_refuses(
    service: str, engine: Engine, people: dict[Role, UserInfo]
) -> None:
    allowed = PERMISSIONS[WRITES[service]]
    fn = SERVICES[service]
    before = snapshot_of_writes(engine)
    for role, user in people.items():
        with Session(engine) as session:
            if role in allowed:
                try:
                    call(fn, engine, session, user)
                except PermissionDenied as e:  # pragma: no cover - the failure we look for
                    pytest.fail(f"{service} refused {role.value}, which may: {e}")
                except Exception:
                    pass  # past the check, the dummy arguments fail: expected
                finally:
                    session.rollback()
            else:
                with pytest.raises(PermissionDenied):
                    call(fn, engine, session, user)
                session.commit()  # whatever a refused call did would land now
                assert snapshot_of_writes(engine) == before, f"{service} wrote as {role.value}"


def test_a_disabled_account_may_do_nothing(engine: Engine, people: dict[Role, UserInfo]) -> None:
    """The app re-reads the acting user on every run (get_active_user) and passes that
    UserInfo to the services: a disabled account gets none, so it can call nothing."""
    from rubricforge.models.accounts.auth import disable_user, get_active_user

    researcher = people[Role.researcher]
    assert researcher.id is not None
    with Session(engine) as s:
        assert get_active_user(s, researcher.id) == researcher
    with session_scope(engine) as s:
        disable_user(s, researcher.username, actor=OPERATOR)
    with Session(engine) as s:
        assert get_active_user(s, researcher.id) is None


def test_the_cli_acts_as_an_explicit_local_operator() -> None:
    assert UserInfo(id=None, username="cli", role=Role.admin) == OPERATOR
