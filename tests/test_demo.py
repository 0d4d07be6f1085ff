"""`rubricforge demo`: a fresh database gets a workspace that shows every feature, once."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError
from rubricforge.models import (
    AuditEntry,
    Criterion,
    Dataset,
    HumanLabel,
    JudgeMode,
    JudgeRun,
    Judgment,
    Prompt,
    Response,
    ReviewAction,
    Role,
    Rubric,
    RubricReview,
    RubricStatus,
    RubricVersion,
    User,
    Verdict,
    VersionSource,
)
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.demo.schema import DATA_FILE, read_demo_data
from rubricforge.models.rubrics.criteria import POLARITY_AVOIDANCE, POLARITY_MIXED
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

pytestmark = pytest.mark.db
KEY = b"k" * 32  # a session-signing key for the sign-out check

TABLES = [
    "users", "datasets", "prompts", "rubrics", "rubric_versions", "criteria", "rubric_reviews",
    "responses", "judge_runs", "judgments", "verdicts", "human_labels", "audit_log",
]  # fmt: skip


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}


@pytest.fixture
def demo(engine: Engine) -> Engine:
    load_demo(engine)
    return engine


def test_summary_reports_what_was_loaded(engine: Engine) -> None:
    summary = load_demo(engine)
    assert "demo-medicine" in summary and "demo-chemistry" in summary
    assert "14 prompts and 12 rubrics" in summary
    assert "18 judgments" in summary
    paragraph, credentials = summary.split("\n", 1)  # the password is set apart, not buried
    assert "Password" not in paragraph and "  Password: " in credentials


def test_every_status_and_the_expected_counts(demo: Engine) -> None:
    with Session(demo) as s:
        assert sorted(s.scalars(select(Dataset.name))) == ["demo-chemistry", "demo-medicine"]
        assert s.scalar(select(func.count(Prompt.id))) == 14
        statuses = Counter(s.scalars(select(Rubric.status)))
        assert statuses == {
            RubricStatus.draft: 2,
            RubricStatus.in_review: 2,
            RubricStatus.approved: 4,
            RubricStatus.rejected: 2,
            RubricStatus.retired: 2,
        }
        # Two prompts are imported but have no rubric yet.
        no_rubric = s.scalars(
            select(Prompt.external_id).outerjoin(Rubric).where(Rubric.id.is_(None))
        )
        assert sorted(no_rubric) == ["chem-007", "med-007"]
        for n in s.scalars(
            select(func.count(Criterion.id))
            .join(Rubric, Rubric.head_version_id == Criterion.version_id)
            .group_by(Rubric.id)
        ):
            assert 7 <= n <= 12
        users = {u.username: u for u in s.scalars(select(User))}
        roles = Counter(u.role for u in users.values())
        assert roles == {Role.admin: 1, Role.expert: 2, Role.annotator: 2, Role.researcher: 1}
        assert all(u.password_hash for u in users.values())
        entries = s.scalars(select(AuditEntry)).all()
        assert [(e.actor, e.action) for e in entries] == [("demo", "load_demo")]


def test_weights_follow_rar_and_criteria_are_hashed_and_keyed(demo: Engine) -> None:
    from rubricforge.models.rubrics.criteria import CriterionData, content_hash

    with Session(demo) as s:
        for c in s.scalars(select(Criterion)):
            expected = {"Essential": {5}, "Important": {3, 4}, "Optional": {1, 2},
                        "Pitfall": {-1, -2}}[c.category.value]  # fmt: skip
            assert c.weight in expected, c.title
            assert 2 <= len(c.title.split()) <= 4, c.title
        for v in s.scalars(select(RubricVersion)):
            rows = s.scalars(
                select(Criterion).where(Criterion.version_id == v.id).order_by(Criterion.position)
            ).all()
            data = [CriterionData(c.title, c.description, c.category, c.weight) for c in rows]
            assert v.content_hash == content_hash(data)
            assert [c.position for c in rows] == list(range(len(rows)))


def test_avoidance_pitfalls_carry_the_polarity_flag(demo: Engine) -> None:
    with Session(demo) as s:
        codeine = s.scalars(select(Criterion).where(Criterion.title == "Avoids codeine")).one()
        assert codeine.weight < 0
        assert POLARITY_AVOIDANCE in codeine.flags
        mixed = s.scalars(
            select(Criterion).where(Criterion.title == "No catalyst equilibrium shift")
        ).one()
        assert set(mixed.flags) == {POLARITY_AVOIDANCE, POLARITY_MIXED}
        # chem-001: the expert's second version rewords the flagged pitfall as the mistake;
        # the criterion keeps its key and loses the flag.
        v1, v2 = s.scalars(
            select(Criterion)
            .join(RubricVersion)
            .join(Rubric, Rubric.id == RubricVersion.rubric_id)
            .join(Prompt)
            .where(Prompt.external_id == "chem-001", Criterion.position == 7)
            .order_by(RubricVersion.number)
        ).all()
        assert v1.key == v2.key
        assert POLARITY_AVOIDANCE in v1.flags and v2.flags == []
        assert v2.title == "Claims Ksp changes"
        # Positive criteria are never flagged in the demo.
        flagged_positive = s.scalars(
            select(Criterion).where(Criterion.weight > 0, func.cardinality(Criterion.flags) > 0)
        ).all()
        assert flagged_positive == []


def test_versions_reviews_and_approvals_match_statuses(demo: Engine) -> None:
    last_action = {
        RubricStatus.in_review: ReviewAction.submit,
        RubricStatus.approved: ReviewAction.approve,
        RubricStatus.rejected: ReviewAction.reject,
        RubricStatus.retired: ReviewAction.retire,
    }
    with Session(demo) as s:
        two_versions = 0
        for rubric in s.scalars(select(Rubric)):
            versions = s.scalars(
                select(RubricVersion)
                .where(RubricVersion.rubric_id == rubric.id)
                .order_by(RubricVersion.number)
            ).all()
            assert rubric.head_version_id == versions[-1].id
            first = versions[0]
            assert first.source in (VersionSource.import_, VersionSource.llm)
            if first.source is VersionSource.llm:
                assert first.llm_model and len(first.template_hash or "") == 64
            if len(versions) == 2:
                two_versions += 1
                second = versions[1]
                author = s.get(User, second.created_by_id)
                assert second.source is VersionSource.human and second.note
                assert second.parent_id == first.id and author and author.role is Role.expert
            reviews = s.scalars(
                select(RubricReview)
                .where(RubricReview.rubric_id == rubric.id)
                .order_by(RubricReview.id)
            ).all()
            if rubric.status is RubricStatus.draft:
                assert reviews == []
            else:
                assert reviews[-1].action is last_action[rubric.status]
            if rubric.status is RubricStatus.rejected:
                assert reviews[-1].comment
            if rubric.status is RubricStatus.approved:
                assert rubric.approved_version_id == rubric.head_version_id
            if rubric.status in (RubricStatus.draft, RubricStatus.in_review):
                assert rubric.approved_version_id is None
        assert two_versions == 4


def test_rewards_are_rar_explicit(demo: Engine) -> None:
    with Session(demo) as s:
        run = s.scalars(select(JudgeRun)).one()
        assert (run.model, run.mode, run.done, run.total) == (
            "demo-judge",
            JudgeMode.explicit,
            18,
            18,
        )
        rewards = s.scalars(select(Judgment.reward)).all()
        assert len(rewards) == 18 and all(r is not None and 0 <= r <= 1 for r in rewards)
        # Every judged response has one verdict per criterion of the judged version.
        for j in s.scalars(select(Judgment)):
            n = s.scalar(select(func.count()).where(Criterion.version_id == j.rubric_version_id))
            assert s.scalar(select(func.count()).where(Verdict.judgment_id == j.id)) == n

        def reward(external_id: str, source: str) -> float:
            return s.scalars(
                select(Judgment.reward)
                .join(Response)
                .join(Prompt)
                .where(Prompt.external_id == external_id, Response.source == source)
            ).one()

        # med-001 policy-a, by hand: weights 5 5 4 4 4 2 1 -2 -1 2, met 1 1 1 1 1 1 0 0 0 0.
        # The pitfalls are not met, so both count in their good direction:
        # (5+5+4+4+4+2 + 2+1) / (5+5+4+4+4+2+1+2+1+2) = 27/30.
        assert reward("med-001", "policy-a") == pytest.approx(27 / 30)
        # The reference answer meets every positive criterion and no pitfall.
        assert reward("med-001", "reference") == pytest.approx(1.0)
        # med-003's flagged avoidance pitfall ("Avoids codeine", -2) is met by the reference,
        # so the right answer loses 2 of 29 points: the polarity trap the lint flags.
        assert reward("med-003", "reference") == pytest.approx(27 / 29)


def test_annotators_disagree_with_each_other_and_with_the_judge(demo: Engine) -> None:
    with Session(demo) as s:
        labels = s.execute(
            select(
                HumanLabel.response_id, HumanLabel.criterion_id, User.username, HumanLabel.met
            ).join(User, User.id == HumanLabel.annotator_id)
        ).all()
        assert {u for _, _, u, _ in labels} == {"annotator1", "annotator2"}
        by_item: dict[tuple[int, int], dict[str, bool]] = {}
        for response_id, criterion_id, user, met in labels:
            by_item.setdefault((response_id, criterion_id), {})[user] = met
        split = [item for item, votes in by_item.items() if len(set(votes.values())) > 1]
        assert len(split) >= 3
        judge = {
            (r, c): met
            for r, c, met in s.execute(
                select(Judgment.response_id, Verdict.criterion_id, Verdict.met).join(Verdict)
            )
        }
        against_judge = [i for i, votes in by_item.items() if judge[i] not in votes.values()]
        assert against_judge, "both annotators overrule the judge at least once"


def test_second_run_adds_nothing(demo: Engine) -> None:
    before = table_counts(demo)
    summary = load_demo(demo)
    assert table_counts(demo) == before
    assert "nothing was added" in summary


def test_demo_accounts_sign_in_with_the_password_shown_once(engine: Engine) -> None:
    from rubricforge.models.accounts.auth import authenticate

    summary = load_demo(engine)
    # On a line of its own, easy to find: "  Password:      <password>".
    password = re.search(r"^  Password: +(\S+)$", summary, re.M).group(1)
    assert len(password) >= 12
    with Session(engine) as s, s.begin():
        assert authenticate(s, "expert1", password).username == "expert1"
        assert authenticate(s, "expert1", "wrong-password") is None
    # A second load prints no password (it added no account) but says how to get a new one.
    again = load_demo(engine)
    assert "Password:" not in again and "--reset-password" in again
    # The password is nowhere in the database, audit log included.
    with engine.connect() as conn:
        dump = conn.scalar(text("SELECT string_agg(t::text, ' ') FROM audit_log t"))
        hashes = list(conn.scalars(text("SELECT password_hash FROM users")))
    assert password not in (dump or "") and all(password not in h for h in hashes)


def test_a_chosen_demo_password_and_a_too_short_one(engine: Engine) -> None:
    from rubricforge.models.accounts.auth import authenticate
    from rubricforge.models.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="too short"):
        load_demo(engine, password="short")
    assert table_counts(engine)["users"] == 0  # refused before anything was written
    load_demo(engine, password="demo-passphrase")
    with Session(engine) as s, s.begin():
        assert authenticate(s, "annotator1", "demo-passphrase") is not None


def test_existing_users_are_kept(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add(User(username="admin", display_name="Real admin", role=Role.admin,
                   password_hash="argon2-hash"))  # fmt: skip
    summary = load_demo(engine)
    with Session(engine) as s:
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        assert (admin.display_name, admin.password_hash) == ("Real admin", "argon2-hash")
        assert s.scalar(select(func.count(User.id))) == 6
    accounts = re.search(r"^  Demo accounts: (.+)$", summary, re.M).group(1).split(", ")
    assert "admin" not in accounts and len(accounts) == 5


def test_reset_password_gives_the_demo_accounts_a_new_one_and_signs_them_out(
    engine: Engine,
) -> None:
    from rubricforge.models.accounts.auth import authenticate
    from rubricforge.models.accounts.sessions import begin_session, claim_handoff, session_user
    from rubricforge.models.core.errors import InvalidInputError
    from rubricforge.models.demo.password import reset_demo_password

    with pytest.raises(InvalidInputError, match="load the demo first"):
        reset_demo_password(engine)  # nothing loaded: nothing to reset
    with Session(engine) as s, s.begin():  # a real account with a demo name, made first
        s.add(User(username="admin", display_name="Real admin", role=Role.admin,
                   password_hash="argon2-hash"))  # fmt: skip
    load_demo(engine, password="first-passphrase")
    with Session(engine) as s, s.begin():
        expert = s.scalars(select(User).where(User.username == "expert1")).one()
        _, code = begin_session(s, expert.id)
        token, _ = claim_handoff(s, KEY, code)
    with pytest.raises(InvalidInputError, match="too short"):
        reset_demo_password(engine, "short")
    with Session(engine) as s:  # refused: every account keeps the old password
        assert authenticate(s, "annotator1", "first-passphrase") is not None

    names, password = reset_demo_password(engine)
    assert "admin" not in names and "expert1" in names and len(names) == 5
    with Session(engine) as s, s.begin():
        assert authenticate(s, "expert1", password) is not None
        assert authenticate(s, "expert1", "first-passphrase") is None
        assert session_user(s, KEY, token) is None  # signed out everywhere
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        assert admin.password_hash == "argon2-hash"  # not a demo account: untouched


def test_bad_demo_data_is_refused_with_a_message(tmp_path: Path) -> None:
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    rubric = raw["datasets"][0]["prompts"][0]["rubric"]
    rubric["criteria"][0]["weight"] = 2  # an Essential criterion must weigh 5
    bad = tmp_path / "demo.json"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValidationError, match="does not fit Essential"):
        read_demo_data(bad)
    assert read_demo_data().datasets[0].name == "demo-medicine"


def test_cli_demo_reset_password(db_url: str, engine: Engine) -> None:
    from typer.testing import CliRunner

    from rubricforge.cli import app

    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    result = runner.invoke(app, ["demo", "--reset-password"], env=env)
    assert result.exit_code == 1 and "load the demo first" in result.output
    assert "Traceback" not in result.output
    load_demo(engine)
    result = runner.invoke(app, ["demo", "--reset-password"], env=env)
    assert result.exit_code == 0, result.output
    password = re.search(r"^  Password: +(\S+)$", result.output, re.M).group(1)
    from rubricforge.models.accounts.auth import authenticate

    with Session(engine) as s, s.begin():
        assert authenticate(s, "researcher1", password) is not None
