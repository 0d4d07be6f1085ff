"""Every page of the app at RaR scale: 20k prompts x 15 criteria, 1M verdicts, 20k labels.

    python bench/scale.py                 # a throwaway embedded PostgreSQL in /tmp
    python bench/scale.py --database-url postgresql://...   # a scratch database there
    python bench/scale.py --database-url URL --keep ...; then --reuse URL --only Agreement

Loads one database with
- the agreement bench's judged world (bench/agreement.py: 4,200 prompts with
  approved 15-criterion rubrics, 8 responses each, two explicit judges =
  1,008,000 verdicts, an implicit and a Likert judge, 20,500 human labels, some
  adjudicated);
- the rest of the 20,000 prompts through the real importer (bench/import_export.py's
  RaR-shaped file and `import_file`), then spread over every workflow status,
  tagged and assigned to experts, and a few hundred prompts with no rubric;
- users of every role, two LLM endpoints, three export snapshots, three
  spot-check queues, a revision request and a second version on one rubric, and
  eight training jobs with ~4,800 metric rows (sample completions on every step).
Then times
1. each page of `webapp.app.PAGES` (read from app.py, so new pages are included)
   with Streamlit's AppTest as a role that uses it: the first run of the page in
   a fresh session, then `--reruns` reruns; plus the editor on one prompt, the
   prompt list with a search and filters, the agreement dashboard with filters;
2. the heaviest service queries behind those pages, called directly.
Target (issue "whole-product pass"): every page <= 1 s per rerun at this size.

The server process is warm when timing starts (modules the pages import are
imported, the engine exists), as a running `rubricforge serve` is; "first" is a
user's first visit to a page, not the server's first request, with
`models.agreement.memo` emptied first, so it reads every row and computes every
figure: what any visit costs after a write anywhere in the database (a label, a judge
run, an edit). Reruns are runs with the database unchanged: the agreement pages then
reuse the rows kept for that PostgreSQL snapshot and the figures computed from them;
every other page reads the database again. Queries are timed with the memo emptied
before every call.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.webapp.preload import preload
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO / "bench"))

import agreement as agreement_bench  # noqa: E402  (bench/agreement.py)
import import_export as import_bench  # noqa: E402  (bench/import_export.py)
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.agreement import memo as report_memo
from rubricforge.models.core import migrate
from rubricforge.models.core.db import normalize_url
from rubricforge.models.core.embedded import EmbeddedServer
from rubricforge.models.core.status import Status

PAGE_LIMIT_S = 1.0  # per rerun, every page
APP = REPO / "webapp" / "app.py"
IMPORTED = "rar-medicine"  # the dataset that comes through the importer
NO_RUBRIC = 300  # prompts of that dataset with no rubric yet
TAGS = ["cardiology", "primary-care", "pediatrics", "oncology", "emergency", "renal"]
QUEUED, RUNNING, SUCCEEDED = Status.queued.value, Status.running.value, Status.succeeded.value
FAILED, CANCELLED = Status.failed.value, Status.cancelled.value
STEPS = {  # training jobs: status -> metric steps logged
    RUNNING: 600,
    SUCCEEDED: 1000,
    FAILED: 120,
    CANCELLED: 40,
    QUEUED: 0,
}
JOB_STATUSES = [SUCCEEDED, SUCCEEDED, FAILED, SUCCEEDED, CANCELLED, SUCCEEDED,
                RUNNING, QUEUED]  # fmt: skip
# The role a page is timed as, by file: the one that sees the most of it.
PAGE_ROLES = {
    "views/overview.py": Role.expert,
    "views/prompts.py": Role.expert,
    "views/editor.py": Role.expert,
    "views/history.py": Role.expert,
    "views/training.py": Role.researcher,
    "views/judging.py": Role.researcher,
    "views/spotcheck.py": Role.annotator,
    "views/agreement.py": Role.researcher,
    "views/adjudication.py": Role.expert,
    "views/leaderboard.py": Role.researcher,
    "views/admin.py": Role.admin,
}
ROLE_ORDER = [Role.researcher, Role.expert, Role.annotator, Role.admin]


def load_avg() -> float:
    return os.getloadavg()[0]


# --- data -----------------------------------------------------------------------------


def step(name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    print(f"  {name:<58}{time.perf_counter() - start:>7.1f} s", flush=True)
    return result


def import_rest(engine: Engine, work: Path, n: int, criteria: int) -> None:
    """`n` RaR-shaped prompts through the real importer (all draft rubrics)."""
    from rubricforge.models.data.importer import import_file

    path = work / "rar_scale.jsonl"
    import_bench.make_file(path, n, criteria, seed=1)
    import_file(engine, path, IMPORTED, actor=OPERATOR)
    path.unlink()


SHAPE_SQL = [
    # Users of every role besides the agreement bench's annotators, expert and researcher.
    "INSERT INTO users (username, display_name, role, is_active) VALUES "
    "('admin', 'Admin', 'admin', true), ('expert2', '', 'expert', true), "
    "('expert3', '', 'expert', true), ('researcher2', '', 'researcher', true), "
    "('former', '', 'annotator', false)",
    "INSERT INTO llm_endpoints (name, base_url, model, api_key_env, params) VALUES "
    "('local-vllm', 'http://127.0.0.1:9/v1', 'qwen2.5-7b', NULL, "
    "'{\"structured_outputs\": true}'), "
    "('openai', 'https://api.openai.com/v1', 'gpt-4o-mini', 'OPENAI_API_KEY', '{}')",
    # The imported rubrics over every status: 40% draft, 15% in review, 35% approved,
    # 5% rejected, 5% retired (approved and retired ones keep an approved version).
    "UPDATE rubrics r SET status = CASE WHEN p.n % 20 < 8 THEN 'draft' "
    "WHEN p.n % 20 < 11 THEN 'in_review' WHEN p.n % 20 < 18 THEN 'approved' "
    "WHEN p.n % 20 < 19 THEN 'rejected' ELSE 'retired' END, "
    "approved_version_id = CASE WHEN p.n % 20 >= 11 AND p.n % 20 <> 18 "
    "THEN r.head_version_id END "
    "FROM (SELECT p.id, row_number() OVER (ORDER BY p.id) AS n FROM prompts p "
    "JOIN datasets d ON d.id = p.dataset_id WHERE d.name = :imported) p "
    "WHERE r.prompt_id = p.id",
    # One or two tags on most prompts; 60% assigned to an expert.
    "UPDATE prompts SET tags = CASE WHEN id % 7 = 0 THEN '{}' "
    "WHEN id % 3 = 0 THEN ARRAY[(CAST(:tags AS varchar[]))[1 + id % 6], "
    "(CAST(:tags AS varchar[]))[1 + (id / 6) % 6]] "
    "ELSE ARRAY[(CAST(:tags AS varchar[]))[1 + id % 6]] END, "
    "assignee_id = CASE WHEN id % 5 < 3 THEN (SELECT id FROM users "
    "WHERE username = (ARRAY['expert', 'expert2', 'expert3'])[1 + id % 3]) END",
    "UPDATE prompts SET tags = ARRAY(SELECT DISTINCT unnest(tags)) WHERE cardinality(tags) = 2",
    # Prompts that have no rubric yet.
    "INSERT INTO prompts (dataset_id, external_id, question, reference_answer, source, tags, "
    "meta) SELECT (SELECT id FROM datasets WHERE name = :imported), 'new-' || g, "
    "'New question ' || g || ': which investigation comes first, and why?', '', 'bench', "
    "'{}', '{}' FROM generate_series(1, :no_rubric) g",
]


def shape(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in SHAPE_SQL:
            params = {"imported": IMPORTED, "tags": TAGS, "no_rubric": NO_RUBRIC}
            conn.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})


def users(engine: Engine) -> dict[str, UserInfo]:
    with Session(engine) as s:
        rows = s.execute(text("SELECT id, username, role FROM users WHERE is_active")).all()
    return {name: UserInfo(id=i, username=name, role=Role(role)) for i, name, role in rows}


def snapshots(engine: Engine) -> list[int]:
    from rubricforge.models.data.exporter import ExportFilter, create_snapshot

    return [
        create_snapshot(engine, ExportFilter(dataset=d), name=f"scale-{d}", actor=OPERATOR).id
        for d in ("medicine", "science", IMPORTED)
    ]


def queues(engine: Engine, researcher: UserInfo) -> None:
    from rubricforge.models.agreement.spotcheck import create_queue, queue_spec

    specs = [
        dict(name="stratified by category", strategy="stratified", stratify_by="category",
             size=2000, labels_per_item=2),
        dict(name="whole responses", unit="response", size=500, labels_per_item=2),
        dict(name="disagreement first", strategy="disagreement_first", size=2000),
    ]  # fmt: skip
    with Session(engine) as s, s.begin():
        for spec in specs:
            create_queue(s, researcher, queue_spec(**spec))


def revisions(engine: Engine, expert: UserInfo, researcher: UserInfo, prompt_id: int) -> None:
    """A flagged criterion and a second version on one judged rubric (the editor's)."""
    from rubricforge.models.agreement.revision import flag_for_revision
    from rubricforge.models.rubrics.criteria import CriterionData
    from rubricforge.models.rubrics.orm import Criterion, Rubric
    from rubricforge.models.rubrics.versions import save_version

    def head(s: Session) -> tuple[Rubric, list[Criterion]]:
        rubric = s.scalars(select(Rubric).where(Rubric.prompt_id == prompt_id)).one()
        criteria = s.scalars(
            select(Criterion)
            .where(Criterion.version_id == rubric.head_version_id)
            .order_by(Criterion.position)
        ).all()
        return rubric, list(criteria)

    with Session(engine) as s, s.begin():
        _, criteria = head(s)
        flag_for_revision(s, researcher, criteria[1].id, "Judges and annotators disagree here.")
    with Session(engine) as s, s.begin():
        rubric, criteria = head(s)
        edited = [
            CriterionData(
                title=c.title,
                description=c.description + (" Say which one." if c.position == 2 else ""),
                category=c.category,
                weight=c.weight,
            )
            for c in criteria
        ]
        lock = rubric.lock_version
        save_version(s, expert, rubric.id, edited, expected_lock_version=lock, note="Point 2.")


def sample(step: int, n: int, criteria: int) -> dict[str, Any]:
    return {
        "prompt": f"Question {n}: a 54-year-old presents with chest pain; next step?",
        "completion": "Obtain a 12-lead ECG within ten minutes, then troponin. " * 6,
        "reward": round(0.3 + 0.5 * ((step * 7 + n) % 10) / 10, 3),
        "ok": True,
        "error": None,
        "rating": None,
        "verdicts": [
            {"title": f"Point {c}", "category": "Essential" if c < 4 else "Important",
             "weight": 5.0 if c < 4 else 3.0, "met": (step + n + c) % 3 > 0,
             "rationale": "The response states it in its second paragraph."}
            for c in range(criteria)
        ],
    }  # fmt: skip


def training(engine: Engine, researcher: UserInfo, snapshot_id: int, criteria: int) -> None:
    """Eight jobs through `submit_job` (the agreement gate measured, overridden where it
    refuses), then statuses and metric rows as workers would have left them."""
    from rubricforge.models.training.jobs import SAMPLES_KEY, submit_job

    config = {
        "model_name_or_path": "Qwen/Qwen2.5-7B",
        "judge": {"base_url": "http://127.0.0.1:9/v1", "model": "judge-large",
                  "mode": "explicit"},
        "max_steps": 1000,
    }  # fmt: skip
    ids = []
    with Session(engine) as s, s.begin():
        for n, _ in enumerate(JOB_STATUSES):
            ids.append(
                submit_job(
                    s,
                    actor=researcher,
                    snapshot_id=snapshot_id,
                    config={**config, "run_name": f"bench-{n}"},  # eight jobs, not a double click
                    override_reason="scale bench",
                )
            )
    with engine.begin() as conn:
        for job_id, status in zip(ids, JOB_STATUSES, strict=True):
            steps = STEPS[status]
            conn.execute(
                text(
                    "UPDATE training_jobs SET status = :status, attempts = :attempts, "
                    "worker_id = :worker, error = :error, "
                    "started_at = CASE WHEN :started THEN now() END, "
                    "finished_at = CASE WHEN :finished THEN now() END WHERE id = :id"
                ),
                {
                    "id": job_id,
                    "status": status,
                    "attempts": int(status != QUEUED),
                    "worker": None if status == QUEUED else "gpu-node-1",
                    "error": "CUDA out of memory" if status == FAILED else None,
                    "started": status != QUEUED,
                    "finished": status not in (QUEUED, RUNNING),
                },
            )
            rows = [
                {
                    "job": job_id,
                    "step": n,
                    "values": json.dumps(
                        {
                            "reward": 0.3 + 0.4 * n / 1000,
                            "reward_std": 0.1,
                            "kl": 0.0004 * n,
                            "completions/mean_length": 300 + n % 50,
                            "judge/failures": float(n % 97 == 0),
                            "judge/failures_total": float(n // 97),
                            "rubric/essential_met_rate": 0.5 + 0.3 * n / 1000,
                            "rubric/important_met_rate": 0.4 + 0.3 * n / 1000,
                            "rubric/optional_met_rate": 0.3,
                            "rubric/pitfall_hit_rate": 0.2 - 0.1 * n / 1000,
                            "frac_reward_zero_std": 0.1,
                            "step_time": 21.5,
                            "judge/wall_s": 9.8,
                            SAMPLES_KEY: [sample(n, k, criteria) for k in range(4)],
                        }
                    ),
                }
                for n in range(1, steps + 1)
            ]
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO training_metrics (job_id, step, values) "
                        "VALUES (:job, :step, CAST(:values AS jsonb))"
                    ),
                    rows,
                )


def generate(url: str, work: Path, args: argparse.Namespace) -> None:
    judged = args.judged_prompts
    rest = args.prompts - judged - NO_RUBRIC
    print(f"loading {args.prompts:,} prompts x {args.criteria} criteria:", flush=True)
    step(
        f"judged world: {judged:,} prompts, verdicts, labels (agreement bench)",
        lambda: agreement_bench.generate(url, judged, args.criteria, args.items, args.scored),
    )
    engine = create_engine(url)
    step(
        f"import {rest:,} RaR prompts (import_file)",
        lambda: import_rest(engine, work, rest, args.criteria),
    )
    step("statuses, tags, assignees, users, endpoints", lambda: shape(engine))
    who = users(engine)
    snaps = step("3 export snapshots", lambda: snapshots(engine))
    step("3 spot-check queues", lambda: queues(engine, who["researcher"]))
    step(
        "revision request and a 2nd version",
        lambda: revisions(engine, who["expert2"], who["researcher"], 1),
    )
    step(
        "8 training jobs and their metrics",
        lambda: training(engine, who["researcher"], snaps[0], args.criteria),
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        step("VACUUM ANALYZE", lambda: conn.execute(text("VACUUM ANALYZE")))
    engine.dispose()


def census(url: str) -> str:
    engine = create_engine(url)
    tables = ["prompts", "criteria", "responses", "verdicts", "human_labels", "users",
              "training_metrics", "spotcheck_items"]  # fmt: skip
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
    engine.dispose()
    return ", ".join(f"{n:,} {t}" for t, n in counts.items())


# --- pages ----------------------------------------------------------------------------


def _title(node: ast.expr) -> str:
    """A page's title: a literal, or the plain one of a conditional title (the Editor
    says "Editor · unsaved changes" while an edit is unsaved)."""
    return str(ast.literal_eval(node.orelse if isinstance(node, ast.IfExp) else node))


def app_pages() -> list[tuple[str, str, Action | None]]:
    """(file, title, action needed) of every entry in webapp/app.py's PAGES, read from
    the source: importing app.py would run the app."""
    tree = ast.parse(APP.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "PAGES":
            assert isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.List)
            out = []
            for entry in node.value.elts:
                assert isinstance(entry, ast.Tuple)
                page, action = entry.elts
                assert isinstance(page, ast.Call)
                path = ast.literal_eval(page.args[0])
                title = next((_title(k.value) for k in page.keywords if k.arg == "title"), path)
                needed = Action(action.attr) if isinstance(action, ast.Attribute) else None
                out.append((path, title, needed))
            return out
    raise SystemExit("no PAGES list in webapp/app.py")


@dataclass
class PageCase:
    name: str
    page: str  # path relative to app.py
    user: UserInfo
    query: dict[str, str] = field(default_factory=dict)
    # Widget changes made after the page's first run; the run that applies the last
    # one is timed as "first" (what a user waits for after changing a filter).
    actions: list[Callable[[Any], None]] = field(default_factory=list)


@dataclass
class PageTiming:
    case: PageCase
    first: float
    reruns: list[float]
    problem: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.reruns) if self.reruns else float("nan")

    @property
    def worst(self) -> float:
        return max(self.reruns) if self.reruns else float("nan")

    @property
    def ok(self) -> bool:
        return not self.problem and self.worst <= PAGE_LIMIT_S


def _widget(at: Any, kind: str, label: str) -> Any:
    found = [w for w in getattr(at, kind) if w.label == label]
    if not found:
        raise LookupError(f"no {kind} labelled {label!r} on the page")
    return found[0]


def set_widget(kind: str, label: str, value: Any) -> Callable[[Any], None]:
    def act(at: Any) -> None:
        _widget(at, kind, label).set_value(value)

    act.__name__ = f"{label}={value!r}"
    return act


def open_tab(key: str, label: str) -> Callable[[Any], None]:
    """Click a lazy tab (st.tabs with a key and on_change="rerun")."""

    def act(at: Any) -> None:
        at.session_state[key] = label

    act.__name__ = f"tab {label!r}"
    return act


def _problem(at: Any) -> str:
    if at.exception:
        return f"exception: {at.exception[0].message}"
    if at.error:
        return f"error: {at.error[0].value}"
    return ""


def time_page(case: PageCase, default_page: str, reruns: int) -> PageTiming:
    from streamlit.testing.v1 import AppTest

    report_memo.clear()  # "first" computes every figure; reruns may reuse them
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.session_state["user_id"] = case.user.id
    if case.query:
        at.query_params.update(case.query)
    start = time.perf_counter()
    at.run()  # signs in and lands on the default page
    first = time.perf_counter() - start
    if case.page != default_page:
        at.switch_page(case.page)
        start = time.perf_counter()
        at.run()
        first = time.perf_counter() - start
    try:
        for act in case.actions:
            act(at)
            start = time.perf_counter()
            at.run()
            first = time.perf_counter() - start
    except LookupError as exc:
        return PageTiming(case, first, [], str(exc))
    problem = _problem(at)
    times = []
    for _ in range(reruns):
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        problem = problem or _problem(at)
    return PageTiming(case, first, times, problem)


def page_cases(
    who: dict[str, UserInfo], prompt_id: int, jobs: dict[str, int]
) -> tuple[list[PageCase], str]:
    """One case per page of PAGES, as its role, then the extra views the issue names."""
    by_role = {
        Role.expert: who["expert"],
        Role.researcher: who["researcher"],
        Role.annotator: who["annotator3"],
        Role.admin: who["admin"],
    }
    pages = app_pages()
    cases = []
    for path, title, action in pages:
        role = PAGE_ROLES.get(path) or next(
            r for r in ROLE_ORDER if action is None or can(by_role[r], action)
        )
        query = (
            {"prompt": str(prompt_id)} if path in ("views/editor.py", "views/history.py") else {}
        )
        cases.append(PageCase(title, path, by_role[role], query))
    paths = {p for p, _, _ in pages}

    def extra(case: PageCase) -> None:
        if case.page in paths:
            cases.append(case)

    extra(PageCase("Editor, read-only", "views/editor.py", by_role[Role.annotator],
                   {"prompt": str(prompt_id)}))  # fmt: skip
    extra(
        PageCase(
            "Prompts: search + status + tag",
            "views/prompts.py",
            who["expert"],
            actions=[
                set_widget("text_input", "Search", "cardiac marker"),
                set_widget("selectbox", "Rubric status", "approved"),
                set_widget("selectbox", "Tag", "cardiology"),
            ],
        )
    )
    extra(
        PageCase(
            "Prompts: one dataset, page 80",
            "views/prompts.py",
            who["expert"],
            actions=[
                set_widget("selectbox", "Dataset", IMPORTED),
                set_widget("number_input", "Page", 80),
            ],
        )
    )
    extra(
        PageCase(
            "Agreement: judge model + category",
            "views/agreement.py",
            who["researcher"],
            actions=[
                set_widget("multiselect", "Judge models", ["judge-large"]),
                set_widget("multiselect", "Categories", ["Essential"]),
            ],
        )
    )
    # The dashboard's tabs are lazy: each open tab is its own view to time.
    for tab in ("Confusion and responses", "Disagreements"):
        extra(PageCase(f"Agreement: {tab} tab", "views/agreement.py", who["researcher"],
                       actions=[open_tab("agreement:tab", tab)]))  # fmt: skip
    # An annotator's visit opens on their drill-down (the Disagreements tab).
    extra(PageCase("Agreement, own drill-down", "views/agreement.py", by_role[Role.annotator]))
    extra(PageCase("Spot-check, queues only", "views/spotcheck.py", who["expert"]))
    for status in (RUNNING, SUCCEEDED):
        pick = set_widget("selectbox", "Job", jobs[status])
        name = f"Training: {status} job, {STEPS[status]} steps"
        extra(PageCase(name, "views/training.py", who["researcher"], actions=[pick]))
    extra(PageCase("Leaderboard: one dataset", "views/leaderboard.py", who["researcher"],
                   actions=[set_widget("multiselect", "Datasets", [1])]))  # fmt: skip
    default = next((p for p, _, _ in pages), "views/overview.py")
    return cases, default


def time_pages(url: str, who: dict[str, UserInfo], reruns: int, only: str = "") -> list[PageTiming]:
    import streamlit as st

    os.environ["DATABASE_URL"] = url
    st.cache_resource.clear()
    preload()  # every view's imports, as `rubricforge serve` loads them at start-up
    engine = create_engine(url)
    with engine.connect() as conn:
        jobs: dict[str, int] = {
            status: job_id
            for status, job_id in conn.execute(
                text("SELECT status, max(id) FROM training_jobs GROUP BY status")
            )
        }
    engine.dispose()
    cases, default = page_cases(who, prompt_id=1, jobs=jobs)
    # One unmeasured run: the process's engine and Streamlit's own first-run costs.
    time_page(PageCase("warm-up", default, who["expert"]), default, 0)
    results = []
    for case in cases:
        if not re.search(only, case.name, re.I):
            continue
        result = time_page(case, default, reruns)
        flag = "ok" if result.ok else "MISSED"
        print(
            f"  {case.name:<44}{result.first:>7.2f}{result.median:>7.2f}{result.worst:>7.2f}"
            f"  {flag} {result.problem}",
            flush=True,
        )
        results.append(result)
    return results


# --- queries --------------------------------------------------------------------------


@dataclass
class QueryTiming:
    name: str
    first: float
    median: float


def query_cases(
    engine: Engine, who: dict[str, UserInfo], running_job: int
) -> list[tuple[str, Callable[[Session], Any]]]:
    from rubricforge.models.agreement.adjudication import adjudication_queue
    from rubricforge.models.agreement.figures import agreement_report
    from rubricforge.models.agreement.filter_choices import filter_choices
    from rubricforge.models.agreement.leaderboard import leaderboard
    from rubricforge.models.agreement.queries import AgreementFilters, disagreements
    from rubricforge.models.agreement.spotcheck import list_queues, next_item
    from rubricforge.models.judging.background import list_runs
    from rubricforge.models.rubrics.browse import (
        dataset_overview,
        list_prompts,
        status_counts,
        tag_names,
    )
    from rubricforge.models.rubrics.detail import rubric_detail
    from rubricforge.models.rubrics.orm import Category
    from rubricforge.models.rubrics.queries import load_editor_state
    from rubricforge.models.training.jobs import job_metrics, last_samples, list_jobs

    researcher, annotator, expert = who["researcher"], who["annotator3"], who["expert"]
    with Session(engine) as s:
        newest_queue = s.execute(text("SELECT max(id) FROM spotcheck_queues")).scalar_one()
    filtered: dict[str, Any] = {"text": "cardiac marker", "tag": "cardiology"}
    return [
        ("dataset_overview", dataset_overview),
        ("status_counts, no filter", lambda s: status_counts(s)),
        ("status_counts, search + tag", lambda s: status_counts(s, **filtered)),
        ("list_prompts, page 1 of 50", lambda s: list_prompts(s)),
        ("list_prompts, last page", lambda s: list_prompts(s, offset=19_950)),
        ("list_prompts, search + tag + status",
         lambda s: list_prompts(s, status="approved", **filtered)),  # fmt: skip
        ("list_prompts, assignee + dataset",
         lambda s: list_prompts(s, assignee="expert2", dataset=IMPORTED)),  # fmt: skip
        ("tag_names", tag_names),
        ("rubric_detail", lambda s: rubric_detail(s, 1)),
        ("load_editor_state", lambda s: load_editor_state(s, 1)),
        ("filter_choices", filter_choices),
        ("agreement_report, everything", lambda s: agreement_report(s)),
        ("agreement_report, one judge model",
         lambda s: agreement_report(s, filters=AgreementFilters(judge_models=("judge-large",)))),
        ("agreement_report, one category",
         lambda s: agreement_report(s, filters=AgreementFilters(categories=(Category.essential,)))),
        ("agreement_report, one queue",
         lambda s: agreement_report(s, filters=AgreementFilters(queue_id=newest_queue))),
        ("leaderboard", lambda s: leaderboard(s)),
        ("disagreements, first 25", lambda s: disagreements(s, researcher, limit=25)),
        ("disagreements, page 80", lambda s: disagreements(s, researcher, limit=25, offset=1975)),
        ("disagreements, annotator's own", lambda s: disagreements(s, annotator, limit=25)),
        ("adjudication_queue (50)", lambda s: adjudication_queue(s, expert)),
        ("list_queues (annotator)", lambda s: list_queues(s, annotator)),
        ("next_item (annotator)", lambda s: next_item(s, annotator, queue_id=newest_queue)),
        ("list_runs", lambda s: list_runs(s)),
        ("list_jobs", lambda s: list_jobs(s)),
        ("job_metrics, 600 steps", lambda s: job_metrics(s, running_job)),
        ("last_samples", lambda s: last_samples(s, running_job)),
    ]  # fmt: skip


def time_queries(url: str, who: dict[str, UserInfo], repeat: int) -> list[QueryTiming]:
    engine = create_engine(url)
    with Session(engine) as s:
        running = s.execute(
            text(f"SELECT id FROM training_jobs WHERE status = '{RUNNING}' LIMIT 1")
        ).scalar_one()
    results = []
    for name, fn in query_cases(engine, who, running):
        times = []
        for _ in range(repeat):
            report_memo.clear()  # the computation itself, every call
            with Session(engine) as s:
                start = time.perf_counter()
                fn(s)
                times.append(time.perf_counter() - start)
        result = QueryTiming(name, times[0], statistics.median(times[1:] or times))
        print(f"  {name:<44}{result.first:>7.3f}{result.median:>7.3f}", flush=True)
        results.append(result)
    engine.dispose()
    return results


# --- report ---------------------------------------------------------------------------


def report(pages: list[PageTiming], queries: list[QueryTiming], reruns: int) -> bool:
    ok = True
    if pages:
        print(f"\n{'page (role)':<52}{'first s':>8}{'median':>8}{'max':>8}  target")
        for p in pages:
            name = f"{p.case.name} ({p.case.user.role.value})"
            target = f"<= {PAGE_LIMIT_S:g} s"
            if not p.ok:
                ok = False
                target += f"  MISSED {p.problem}".rstrip()
            elif p.first > PAGE_LIMIT_S:
                target += "  (first run over)"
            print(f"{name:<52}{p.first:>8.2f}{p.median:>8.2f}{p.worst:>8.2f}  {target}")
        print(
            f"(target per rerun: median and max of {reruns} reruns; first: the page's first "
            "run in a fresh session, or the run that applied its filters, with no figure "
            "memoized)"
        )
    if queries:
        head = "query (part of a page: no target of its own)"
        print(f"\n{head:<52}{'first s':>8}{'median':>8}")
        for q in queries:
            print(f"{q.name:<52}{q.first:>8.3f}{q.median:>8.3f}")
        print("(the first and the median of the calls, nothing memoized: what a page's first run")
        print(" or a change of filters costs; reruns with unchanged rows reuse the figures)")
    print(f"page target {'met' if ok else 'MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=20000)
    parser.add_argument("--criteria", type=int, default=15)
    parser.add_argument("--judged-prompts", type=int, default=4200,
                        help="prompts with responses, verdicts and labels")  # fmt: skip
    parser.add_argument("--items", type=int, default=9000, help="criterion items, 2 labels each")
    parser.add_argument("--scored", type=int, default=1000, help="responses, 2 scores each")
    parser.add_argument("--reruns", type=int, default=5, help="timed reruns per page")
    parser.add_argument("--repeat", type=int, default=3, help="calls per query")
    parser.add_argument("--database-url", help="default: a throwaway embedded server in /tmp")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the loaded database (with --database-url) and print its URL",
    )
    parser.add_argument(
        "--reuse", metavar="URL", help="time a database an earlier --keep run loaded; load nothing"
    )
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--only", default="", help="time only pages whose name matches (regex)")
    args = parser.parse_args()
    if args.keep and not args.database_url:
        parser.error("--keep needs --database-url (the embedded server is thrown away)")
    if args.prompts <= args.judged_prompts + NO_RUBRIC:
        parser.error(f"--prompts must exceed --judged-prompts + {NO_RUBRIC} (no-rubric prompts)")

    work = Path(tempfile.mkdtemp(prefix="rf-bench-scale-", dir="/tmp"))
    server = None if args.database_url or args.reuse else EmbeddedServer(work / "home")
    drop: Callable[[], None] = lambda: None  # noqa: E731
    load_before = load_avg()
    try:
        if args.reuse:
            url = normalize_url(args.reuse)
        else:
            base = normalize_url(args.database_url) if server is None else server.ensure_running()
            url, drop = agreement_bench.scratch_database(base)
            if args.keep:
                drop = lambda: None  # noqa: E731
            migrate.upgrade(url)
            start = time.perf_counter()
            generate(url, work, args)
            print(f"loaded in {time.perf_counter() - start:.0f} s", flush=True)
            if args.keep:
                print(f"kept: --reuse {url}")
        print(census(url))
        engine = create_engine(url)
        who = users(engine)
        engine.dispose()
        load_start = load_avg()
        pages: list[PageTiming] = []
        queries: list[QueryTiming] = []
        if not args.skip_pages:
            print(f"\npages (first, median, max s), {args.reruns} reruns each:", flush=True)
            pages = time_pages(url, who, args.reruns, args.only)
        if not args.skip_queries:
            print(f"\nqueries (first, median s), {args.repeat} calls each:", flush=True)
            queries = time_queries(url, who, args.repeat)
        load_after = load_avg()
    finally:
        drop()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{os.cpu_count()} cores; load average {load_before:.2f} before loading, "
        f"{load_start:.2f} before timing, {load_after:.2f} after"
    )
    ok = report(pages, queries, args.reruns)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
