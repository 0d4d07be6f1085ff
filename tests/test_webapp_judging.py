"""The judging pages under AppTest, against a real Postgres: blind spot-checks,
drawing a queue, adjudication, the agreement dashboard and its "Flag for
revision", the judge leaderboard, judge runs started from the page against the
scripted LLM server, and the editor closing a revision request.

Each test builds a small judged world (tests/judged_world.py) with the ORM and
commits it; the app reaches the same database through DATABASE_URL."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from judging_support import SECRET, Judged, judged
from llm_server import Reply, ScriptedLLM
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.leaderboard import RankBy, leaderboard, rankings_with_data
from rubricforge.models.agreement.orm import HumanLabel, SamplingStrategy, Stratum
from rubricforge.models.agreement.queries import AgreementFilters
from rubricforge.models.agreement.revision import flag_for_revision
from rubricforge.models.core.errors import PermissionDenied
from rubricforge.models.core.status import Status
from rubricforge.models.judging.background import list_runs, start_judge_run
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import JudgeMode, JudgeRun
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.rubrics.orm import Category, RevisionRequest, Rubric, RubricStatus
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from webapp_support import APP, app_as, click, has, shown, user_id, widget

pytestmark = pytest.mark.db

TEXT_KINDS = ("title", "subheader", "markdown", "text", "caption", "success", "info",
              "warning", "error", "metric")  # fmt: skip


def page_text(at: AppTest) -> str:
    """Everything the page shows as text, tables included."""
    parts = [str(e.value) for kind in TEXT_KINDS for e in getattr(at, kind)]
    parts += [e.value.to_string() for e in at.dataframe]
    return "\n".join(parts)


def labels(engine: Engine) -> list[HumanLabel]:
    with Session(engine) as s:
        return list(s.scalars(select(HumanLabel).order_by(HumanLabel.id)))


# --- Spot-check -------------------------------------------------------------------------


def test_an_annotator_labels_blind_then_sees_the_verdict(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=4)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    assert at.subheader[0].value == "pilot"
    assert SECRET not in page_text(at)  # blind: no verdict, no rationale
    assert not shown(at, "markdown", "What the judge said")
    item = at.session_state["spot:item"]
    at.session_state["spot:shown_at"] = time.time() - 12  # the annotator read for 12 s
    widget(at, "text_input", "Note (optional)").set_value("dose unclear")
    click(at, "Met")

    [label] = labels(engine)
    assert (label.annotator_id, label.response_id, label.criterion_id) == (
        j.uid("ann"),
        item.response_id,
        item.criterion_id,
    )
    assert label.met is True and label.note == "dose unclear"
    assert label.seconds_spent is not None and 12 <= label.seconds_spent < 60
    # Only now: the judge's verdict and rationale, and the stored label.
    assert shown(at, "success", "Your label is stored: met.")
    assert shown(at, "text", f"{SECRET} #{item.criterion_id}")
    assert shown(at, "markdown", "judge-a (explicit)")

    click(at, "Next item")
    assert at.session_state["spot:item"].position == item.position + 1
    assert SECRET not in page_text(at)
    click(at, "Not met")
    click(at, "Next item")
    click(at, "Skip")
    assert [lab.met for lab in labels(engine)] == [True, False, None]
    assert shown(at, "success", "Your label is stored: skipped.")


def test_a_finished_queue_says_so(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=1)
    at = app_as(j.uid("bob"), "views/spotcheck.py")
    click(at, "Met")
    click(at, "Next item")
    assert shown(at, "success", "Nothing left for you in this queue")
    assert not has(at, "button", "Met")


def test_a_researcher_cannot_label_but_draws_a_queue(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=2)
    at = app_as(j.uid("rita"), "views/spotcheck.py")
    assert shown(at, "info", "Labeling is for annotators and admins (your role: researcher)")
    assert not has(at, "button", "Met") and SECRET not in page_text(at)
    assert list(at.dataframe[0].value["Queue"]) == ["pilot"]

    widget(at, "text_input", "Queue name").set_value("by category")
    widget(at, "selectbox", "Sampling").set_value(SamplingStrategy.stratified)
    widget(at, "selectbox", "Stratify by (stratified only)").set_value(Stratum.category)
    widget(at, "number_input", "Items").set_value(8)
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert shown(at, "success", "Queue by category drawn: 8 items.")
    assert list(at.dataframe[0].value["Queue"]) == ["by category", "pilot"]

    # A bad queue says what to fix and draws nothing.
    widget(at, "text_input", "Queue name").set_value("bad")
    widget(at, "selectbox", "Sampling").set_value(SamplingStrategy.stratified)
    widget(at, "selectbox", "Stratify by (stratified only)").set_value(None)
    at.form_submit_button[0].click()
    at.run()
    assert shown(at, "error", "a stratified queue needs stratify_by")
    assert len(at.dataframe[0].value) == 2


def test_an_annotator_cannot_draw_queues(app_db: str, engine: Engine) -> None:
    j = judged(engine, queue_size=2)
    at = app_as(j.uid("ann"), "views/spotcheck.py")
    assert not has(at, "button", "Draw queue") and not has(at, "text_input", "Queue name")


# --- Adjudication -----------------------------------------------------------------------


def test_an_expert_adjudicates_a_disputed_item(app_db: str, engine: Engine) -> None:
    j = judged(engine)
    criterion = j.prompts[0].criteria[1]
    with Session(engine) as s, s.begin():
        j.world.session = s
        j.world.label(j.world.users["ann"], j.responses[0], criterion, True)
        j.world.label(j.world.users["bob"], j.responses[0], criterion, False)
    at = app_as(j.uid("eve"), "views/adjudication.py")
    assert list(at.dataframe[0].value["Label"]) == ["met", "not met"]  # both annotators
    assert list(at.dataframe[1].value["Rationale"]) == [f"{SECRET} #{criterion}"]
    widget(at, "text_input", "Note on the final label").set_value("the dose is missing")
    click(at, "Final: not met")
    assert shown(at, "success", "Final label recorded: not met")
    final = [lab for lab in labels(engine) if lab.is_adjudication]
    assert [(f.annotator_id, f.met, f.note) for f in final] == [
        (j.uid("eve"), False, "the dose is missing")
    ]
    assert shown(at, "info", "No disputed items for you")


def test_annotators_get_no_adjudication(app_db: str, engine: Engine) -> None:
    j = judged(engine)
    at = app_as(j.uid("ann"))
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/adjudication.py")
    page = AppTest.from_file(str(APP.parent / "views" / "adjudication.py"), default_timeout=60)
    page.session_state["user_id"] = j.uid("ann")
    page.run()
    assert shown(page, "error", "Not allowed: this page needs permission to adjudicate")
    assert not page.button and not page.dataframe


# --- Agreement dashboard ----------------------------------------------------------------


def labelled(engine: Engine) -> Judged:
    """Ann labels every judged item and agrees with the judge except on the Important
    criterion (the second) of every response; bob labels the first response as ann."""
    j = judged(engine)
    with Session(engine) as s, s.begin():
        w = j.world
        w.session = s
        for p, first in zip(j.prompts, (0, 2), strict=True):
            for r in j.responses[first : first + 2]:
                for i, c in enumerate(p.criteria):
                    judge_met = i % 2 == 0
                    w.label(w.users["ann"], r, c, judge_met if i != 1 else not judge_met)
        for i, c in enumerate(j.prompts[0].criteria):
            w.label(w.users["bob"], j.responses[0], c, (i % 2 == 0) != (i == 1))
    return j


def plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_the_dashboard_shows_the_services_figures(app_db: str, engine: Engine) -> None:
    j = labelled(engine)
    with Session(engine) as s:
        report = agreement_report(s)
    at = app_as(j.uid("rita"), "views/agreement.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Accuracy": f"{report.overall.accuracy.value:.3f}",
        "Cohen's kappa": f"{report.overall.kappa.value:.3f}",
        "Krippendorff's alpha": f"{report.alpha.value:.3f}",
        "Precision (met)": f"{report.overall.precision.value:.3f}",
        "Recall (met)": f"{report.overall.recall.value:.3f}",
    }
    assert report.overall.n == 16 and metrics["Accuracy"] == "0.750"
    k = report.overall.kappa
    assert shown(at, "caption", f"95% CI {k.low:.3f}–{k.high:.3f} · n=16")
    per_category = at.dataframe[0].value
    assert list(per_category["Category"]) == [g.group for g in report.by_category.groups]
    assert list(per_category["Accuracy"]) == [1.0, 0.0, 1.0, 1.0]  # Important: all disputed
    # The tabs are lazy: the closed ones draw nothing until opened.
    assert not [c for c in plotly_specs(at) if c["data"][0]["type"] == "heatmap"]
    assert not shown(at, "caption", "items where a judge and the humans disagree")
    at.session_state["agreement:tab"] = "Confusion and responses"
    at.run()
    confusion = next(c for c in plotly_specs(at) if c["data"][0]["type"] == "heatmap")
    assert confusion["data"][0]["z"] == [list(row) for row in report.overall.confusion]
    # The drill-down lists the four disagreeing items with the judge's rationale.
    at.session_state["agreement:tab"] = "Disagreements"
    at.run()
    assert not at.exception, at.exception
    drill = at.dataframe[-1].value
    assert len(drill) == 4 and set(drill["Criterion"]) == {"Point 0.1", "Point 1.1"}
    assert drill["Rationale"].str.startswith(SECRET).all()


def test_the_dashboard_filters_reach_the_service(app_db: str, engine: Engine) -> None:
    j = labelled(engine)
    at = app_as(j.uid("rita"), "views/agreement.py")
    widget(at, "multiselect", "Categories").set_value([Category.important]).run()
    assert not at.exception, at.exception
    with Session(engine) as s:
        report = agreement_report(s, filters=AgreementFilters(categories=(Category.important,)))
    assert (report.n_labels, report.n_items) == (5, 4)  # ann on four items, bob on one
    assert shown(at, "caption", "5 labels on 4 items")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == "0.000"  # every Important verdict is disputed
    assert metrics["Cohen's kappa"] == f"{report.overall.kappa.value:.3f}"
    assert list(at.dataframe[0].value["Category"]) == ["Important"]


def test_a_researcher_flags_a_criterion_from_the_dashboard(app_db: str, engine: Engine) -> None:
    j = labelled(engine)
    flagged = j.prompts[0].criteria[1]
    at = app_as(j.uid("rita"), "views/agreement.py")
    at.session_state["agreement:tab"] = "Disagreements"
    at.run()
    widget(at, "selectbox", "Criterion to revise").set_value(flagged)
    widget(at, "text_input", "Why it needs revising").set_value("judge reads it backwards")
    click(at, "Flag for revision")
    assert shown(at, "success", "Flagged “Point 0.1”: rubric")
    with Session(engine) as s:
        rubric = s.get_one(Rubric, j.prompts[0].rubric_id)
        [req] = s.scalars(select(RevisionRequest)).all()
    assert rubric.status is RubricStatus.draft
    assert (req.criterion_id, req.reason, req.created_by_id) == (
        flagged,
        "judge reads it backwards",
        j.uid("rita"),
    )
    assert req.evidence["summary"]["disagreeing_items"] == 2


def test_an_annotator_sees_figures_but_no_flag_and_only_own_items(
    app_db: str, engine: Engine
) -> None:
    j = labelled(engine)
    at = app_as(j.uid("bob"), "views/agreement.py")
    assert at.metric and not has(at, "button", "Flag for revision")
    # The page opens on the drill-down for an annotator. Of the four disagreeing
    # items bob labelled one; the others stay hidden from him.
    drill = at.dataframe[-1].value
    assert list(drill["Response"]) == [j.responses[0]]


# --- Leaderboard ------------------------------------------------------------------------


def test_the_leaderboard_ranks_judges_with_their_cost(app_db: str, engine: Engine) -> None:
    j = labelled(engine)
    with Session(engine) as s, s.begin():
        w = j.world
        w.session = s
        best = w.run("judge-b", JudgeMode.implicit, tokens_in=1000, tokens_out=10, cost_usd=0.05)
        for n, r in enumerate(j.responses):
            w.judge(best, r, reward=0.9 if n % 2 else 0.1, rating=9 if n % 2 else 2)
            w.label(w.users["ann"], r, None, score=9 if n % 2 else 2)
    with Session(engine) as s:
        board = leaderboard(s)
    at = app_as(j.uid("ann"), "views/leaderboard.py")
    table = at.dataframe[0].value
    assert list(table["Judge"]) == [r.judge for r in board.rows]
    assert list(table["Judgments"]) == [r.cost.judgments for r in board.rows]
    assert table["Response kappa"].iloc[0] == pytest.approx(board.rows[0].response_kappa.value)
    assert board.cheapest_agreeing is not None
    assert shown(at, "success", f"Cheapest judge that agrees with the best: "
                 f"{board.cheapest_agreeing.judge}")  # fmt: skip
    assert list(table["Judge"]) == ["judge-b (implicit)", "judge-a (explicit)"]
    widget(at, "radio", "Order").set_value("cost").run()  # $5 vs $12.50 per 1k judgments
    assert list(at.dataframe[0].value["Judge"]) == ["judge-a (explicit)", "judge-b (implicit)"]


# --- Judge runs -------------------------------------------------------------------------


def verdicts_reply(body: dict[str, Any]) -> Reply:
    """A judge that calls the odd criteria met."""
    found = re.search(r"RUBRIC \((\d+) criteria\)", body["messages"][1]["content"])
    assert found, "not an explicit judge request"
    n = int(found.group(1))
    items = [{"index": i, "met": i % 2 == 1, "rationale": "scripted"} for i in range(1, n + 1)]
    return Reply.json({"verdicts": items})


def test_a_judge_run_starts_in_the_background_and_shows_progress(
    app_db: str, engine: Engine, llm_server: ScriptedLLM
) -> None:
    j = judged(engine)
    with Session(engine) as s, s.begin():
        save_endpoint(s, OPERATOR, "local", base_url=llm_server.base_url, model="judge-x",
                      api_key_env=None)  # fmt: skip
    llm_server.respond_with(verdicts_reply)
    at = app_as(j.uid("erin"), "views/judging.py")
    assert list(at.dataframe[0].value["Model"]) == ["judge-a"]
    widget(at, "number_input", "Requests in flight").set_value(2)
    click(at, "Start judge run")
    assert shown(at, "success", "started; its progress shows below")
    with Session(engine) as s:
        run = s.scalars(select(JudgeRun).order_by(JudgeRun.id.desc())).first()
        assert run is not None and run.model == "judge-x" and run.params["concurrency"] == 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if s.get_one(JudgeRun, run.id).status is not Status.running:
                break
        time.sleep(0.2)
    at.run()
    table = at.dataframe[0].value
    assert (table["Run"].iloc[0], table["Status"].iloc[0], table["Judged"].iloc[0]) == (
        run.id,
        "succeeded",
        "4/4",
    )
    assert table["By"].iloc[0] == "erin" and table["Target"].iloc[0] == "dataset med"
    assert len(llm_server.chat_requests) == 4


def test_a_judge_run_with_nothing_to_judge_says_so(
    app_db: str, engine: Engine, llm_server: ScriptedLLM
) -> None:
    j = judged(engine)
    with Session(engine) as s, s.begin():
        j.world.session = s
        j.world.dataset("empty")
        save_endpoint(s, OPERATOR, "local", base_url=llm_server.base_url, model="judge-x",
                      api_key_env=None)  # fmt: skip
    at = app_as(j.uid("rita"), "views/judging.py")
    widget(at, "selectbox", "Dataset").set_value("empty")
    click(at, "Start judge run")
    assert shown(at, "error", "no stored responses to judge")
    with Session(engine) as s:
        assert len(s.scalars(select(JudgeRun)).all()) == 1  # the fixture's run only


def test_only_judging_roles_may_start_a_run(app_db: str, engine: Engine) -> None:
    j = judged(engine)
    config = JudgeConfig(EndpointConfig(base_url="http://127.0.0.1:9/v1", model="m"))
    with pytest.raises(PermissionDenied, match="may not run judge"):
        start_judge_run(engine, j.world.users["ann"], config, dataset="med")
    with Session(engine) as s:
        assert [r.model for r in list_runs(s)] == ["judge-a"]  # nothing started


def test_an_annotator_watches_runs_but_cannot_start_one(app_db: str, engine: Engine) -> None:
    j = judged(engine)
    at = app_as(j.uid("ann"), "views/judging.py")
    assert not has(at, "button", "Start judge run")
    assert shown(at, "caption", "Starting judge runs needs the expert, researcher or admin role")
    assert list(at.dataframe[0].value["Status"]) == ["succeeded"]


# --- The editor closes the loop ---------------------------------------------------------


def test_the_editor_shows_a_request_and_saving_the_fix_resolves_it(
    app_db: str, engine: Engine
) -> None:
    j = labelled(engine)
    p = j.prompts[0]
    with Session(engine) as s, s.begin():
        req = flag_for_revision(s, j.world.users["rita"], p.criteria[1], "ambiguous wording")
    at = app_as(j.uid("erin"), "views/editor.py", {"prompt": str(p.prompt_id)})
    assert [e.label for e in at.expander][:1] == ["Open revision requests (1)"]
    assert shown(at, "markdown", "Request")
    assert shown(at, "markdown", "ambiguous wording")
    evidence = at.dataframe[0].value
    assert len(evidence) == 2 and evidence["Rationale"].str.startswith(SECRET).all()

    state = {"edited_rows": {1: {"description": "States the dose in mg."}},
             "added_rows": [], "deleted_rows": []}  # fmt: skip
    table = at.data_editor[0].key
    assert table is not None
    at.session_state[table] = state
    at.run()
    click(at, "Save version")
    assert shown(at, "success", f"Saved version 2. It resolves revision request(s) {req.id}.")
    assert not [e for e in at.expander if e.label.startswith("Open revision requests")]
    with Session(engine) as s:
        done = s.get_one(RevisionRequest, req.id)
    assert done.resolved_at is not None and done.resolution == "criterion changed in version 2"

    # Annotators read the rubric but never the evidence (it holds the judge's verdicts).
    reader = app_as(j.uid("ann"), "views/editor.py", {"prompt": str(p.prompt_id)})
    assert not [e for e in reader.expander if e.label.startswith("Open revision requests")]


def test_the_leaderboard_opens_on_a_ranking_with_data_and_clamps_its_axes(
    demo_app_db: str,
) -> None:
    eng = create_engine(demo_app_db)
    with Session(eng) as s:
        with_data = rankings_with_data(leaderboard(s))
    eng.dispose()
    assert with_data, "the demo has labels behind at least one ranking"
    at = app_as(user_id(demo_app_db, "researcher1"), "views/leaderboard.py")
    assert widget(at, "selectbox", "Rank by").value == with_data[0]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["yaxis"]["range"] == [-1.05, 1.05]
    for trace in chart["data"]:
        (y,) = trace["y"]
        assert y + trace["error_y"]["array"][0] <= 1.0 + 1e-9
        assert y - trace["error_y"]["arrayminus"][0] >= -1.0 - 1e-9


def test_the_leaderboard_keeps_the_chosen_ranking_when_the_filters_change(
    demo_app_db: str,
) -> None:
    at = app_as(user_id(demo_app_db, "researcher1"), "views/leaderboard.py")
    rank = widget(at, "selectbox", "Rank by")
    chosen = next(r for r in RankBy if r != rank.value)
    rank.set_value(chosen).run()
    assert not at.exception, at.exception
    eng = create_engine(demo_app_db)
    with eng.connect() as conn:
        first = conn.execute(text("SELECT min(id) FROM datasets")).scalar_one()
    eng.dispose()
    widget(at, "multiselect", "Datasets").set_value([first]).run()
    assert not at.exception, at.exception
    assert widget(at, "selectbox", "Rank by").value == chosen
