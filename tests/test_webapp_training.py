"""The Training page under AppTest, against a real Postgres: jobs listed with their
curves, completions and provenance; cancel; a submission the agreement gate refuses,
then an override; a reward preview against the scripted server; and an annotator
who may watch but not launch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_server import ScriptedLLM
from rubricforge.models import AuditEntry, TrainingJob
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.core.status import Status
from rubricforge.models.training.thresholds import set_thresholds
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from training_support import (
    Scripted,
    SnapshotWorld,
    confusion,
    job_config,
    metric_rows,
    seed_snapshot,
    spotchecks,
    submit,
)
from webapp_support import add_account, app_as, click, has, shown, widget

pytestmark = pytest.mark.db

PAGE = "views/training.py"
REASON = "pilot: pitfall labels are being redone"
LOW = confusion(tn=15, fp=5, fn=5, tp=15)  # kappa 0.5 over 40 items


@pytest.fixture
def world(app_db: str, engine: Engine) -> SnapshotWorld:
    world = seed_snapshot(engine, prompts=6, criteria=8)
    spotchecks(engine, world, LOW)
    return world


def open_view(at: AppTest, name: str) -> AppTest:
    widget(at, "segmented_control", "View").set_value(name).run()
    assert not at.exception, at.exception
    return at


def yaml_editor(at: AppTest) -> AppTest:
    """The New job view with the config as YAML (the advanced editor)."""
    open_view(at, "New job")
    widget(at, "segmented_control", "Edit the config as").set_value("YAML (advanced)").run()
    assert not at.exception, at.exception
    return at


def jobs(engine: Engine) -> list[TrainingJob]:
    with Session(engine) as s:
        return list(s.query(TrainingJob).order_by(TrainingJob.id))


def plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_jobs_curves_completions_and_provenance(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    first = submit(engine, world, reason=REASON)
    second = submit(engine, world, reason=REASON, max_steps=9)
    rows = metric_rows(engine, first)
    rita = add_account(app_db, "rita", "researcher")
    at = app_as(rita, PAGE)
    listed = at.dataframe[0].value
    assert list(listed["Job"]) == [second, first]  # newest first
    assert list(listed["Status"]) == ["queued", "queued"]
    assert list(listed["Step"]) == ["0/9", "3/3"] and list(listed["Attempts"]) == ["0/3"] * 2

    widget(at, "selectbox", "Job").set_value(first).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == f"Job {first}: queued"
    [curves] = plotly_specs(at)
    traces = {t["name"]: t for t in curves["data"]}
    assert traces["reward mean"]["x"] == [1, 2, 3]
    assert traces["reward mean"]["y"] == pytest.approx([r["reward"] for r in rows])
    assert traces["KL"]["y"] == pytest.approx([r["kl"] for r in rows])
    assert traces["completion tokens"]["y"] == pytest.approx([41.0, 42.0, 43.0])
    assert traces["judge failures"]["y"] == [0.0, 1.0, 0.0]
    assert traces["essential met"]["y"] == pytest.approx([0.6, 0.7, 0.8])
    assert traces["pitfall hit"]["y"] == pytest.approx([0.25, 0.2, 0.15])
    band = traces["reward ± std"]["y"]  # mean + std forwards, mean - std backwards
    assert band == pytest.approx([0.35, 0.45, 0.55, 0.45, 0.35, 0.25])
    # The newest step's completion with its per-criterion verdicts.
    assert [e.label for e in at.expander] == ["Completion 1: reward 0.750"]
    verdicts = at.dataframe[1].value
    assert list(verdicts["Title"]) == ["Airway", "Outdated drug"]
    assert list(verdicts["Met"]) == [True, False]
    # Provenance: snapshot hash, judge template, and the override it was launched with.
    job = jobs(engine)[0]
    assert shown(at, "markdown", job.provenance["snapshot"]["sha256"])
    assert shown(at, "markdown", job.provenance["judge"]["template_hash"])
    # The reward preset the job scores with, and its weights (old mode explicit: the
    # rubric's own weights).
    assert shown(
        at,
        "caption",
        "Reward preset rar_explicit_weights: RaR Eq. 1 with the rubric's own signed weights. "
        "Weights: rubric.",
    )
    assert shown(at, "warning", "Cohen's kappa 0.50 (95% CI")
    assert shown(at, "warning", f"**Overridden** by rita: {REASON}")


def test_a_job_without_metrics_says_so(app_db: str, engine: Engine, world: SnapshotWorld) -> None:
    submit(engine, world, reason=REASON)
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    assert plotly_specs(at) == []
    assert shown(at, "caption", "No metrics yet")
    assert shown(at, "caption", "No completions logged yet")


def test_cancel_a_queued_and_a_running_job(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    queued = submit(engine, world, reason=REASON)
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    click(at, "Cancel job")
    assert shown(at, "success", f"Job {queued} cancelled.")
    assert jobs(engine)[0].status is Status.cancelled
    assert not has(at, "button", "Cancel job")  # a finished job has nothing to cancel

    running = submit(engine, world, reason=REASON)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE training_jobs SET status = 'running', attempts = 1 WHERE id = :i"),
            {"i": running},
        )
    at.run()
    widget(at, "selectbox", "Job").set_value(running).run()
    click(at, "Cancel job")
    assert shown(at, "success", f"Job {running}: cancel requested")
    job = jobs(engine)[1]
    assert job.status is Status.running and job.cancel_requested
    assert widget(at, "button", "Cancel job").disabled
    assert at.dataframe[0].value["Status"][0] == "running (cancelling)"


def test_submit_refused_by_the_gate_then_overridden(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    rita = add_account(app_db, "rita", "researcher")
    at = app_as(rita, PAGE)
    assert shown(at, "info", "No training jobs yet")
    yaml_editor(at)
    # The form starts from RaR's defaults.
    config = widget(at, "text_area", "Config (YAML or JSON)")
    assert "learning_rate: 5.0e-06" in config.value and "num_generations: 16" in config.value
    config.set_value(json.dumps(job_config()))
    click(at, "Submit job")
    assert shown(at, "error", "Cohen's kappa 0.50")
    assert shown(at, "error", "Nothing was queued")
    assert shown(at, "info", "write why in “Override reason”")
    assert jobs(engine) == []

    widget(at, "text_area", "Override reason").set_value(REASON)
    click(at, "Submit job")
    [job] = jobs(engine)
    assert shown(at, "success", f"Job {job.id} queued")
    assert job.provenance["agreement"]["override"]["reason"] == REASON
    assert (job.provenance["agreement"]["override"]["by"], job.created_by_id) == ("rita", rita)
    with Session(engine) as s:
        entry = s.query(AuditEntry).filter_by(action="training.gate_override").one()
    assert entry.user_id == rita


def test_the_override_reason_is_for_one_submit_only(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    """The reason used to stay in the form, so the next submit was overridden silently."""
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    yaml_editor(at)
    widget(at, "text_area", "Config (YAML or JSON)").set_value(json.dumps(job_config()))
    widget(at, "text_area", "Override reason").set_value(REASON)
    click(at, "Submit job")
    [job] = jobs(engine)
    assert shown(at, "success", f"Job {job.id} queued")
    assert widget(at, "text_area", "Override reason").value == ""

    # The next job, under the same failing gate: refused, not overridden again.
    config = widget(at, "text_area", "Config (YAML or JSON)")
    config.set_value(json.dumps(job_config(max_steps=9)))
    click(at, "Submit job")
    assert shown(at, "error", "Cohen's kappa 0.50") and shown(at, "error", "Nothing was queued")
    assert [j.id for j in jobs(engine)] == [job.id]


def test_a_double_click_on_submit_queues_one_job(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    with session_scope(engine) as s:  # the admins' bar lets kappa 0.5 pass
        set_thresholds(s, actor=OPERATOR, min_kappa=0.45, min_labels=30)
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    yaml_editor(at)
    widget(at, "text_area", "Config (YAML or JSON)").set_value(json.dumps(job_config()))
    click(at, "Submit job")
    click(at, "Submit job")  # the second click of a double click: the same input again
    [job] = jobs(engine)
    assert shown(at, "success", f"Job {job.id} queued")


def test_a_lower_threshold_needs_a_reason_and_a_bad_config_is_explained(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    yaml_editor(at)
    widget(at, "text_area", "Config (YAML or JSON)").set_value("judge: [unclosed")
    click(at, "Submit job")
    assert shown(at, "error", "not valid YAML or JSON")
    widget(at, "text_area", "Config (YAML or JSON)").set_value(
        json.dumps(job_config(num_generations=3))
    )
    click(at, "Submit job")
    assert shown(at, "error", "must be divisible by num_generations (3)")
    assert jobs(engine) == []
    widget(at, "text_area", "Config (YAML or JSON)").set_value(json.dumps(job_config()))
    widget(at, "number_input", "Minimum kappa").set_value(0.45)
    click(at, "Submit job")  # lowering the admins' bar is an override: it needs a reason
    assert shown(at, "error", "Lowering the bar is an override")
    assert jobs(engine) == []
    widget(at, "text_area", "Override reason").set_value(REASON)
    click(at, "Submit job")
    [job] = jobs(engine)
    agreement = job.provenance["agreement"]
    assert agreement["passed"] and agreement["min_kappa"] == 0.45
    assert agreement["override"]["lowered"] == {"min_kappa": 0.45, "min_labels": 30}


def test_the_page_shows_the_admins_bar_and_flags_a_lower_one(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    with session_scope(engine) as s:
        set_thresholds(s, actor=OPERATOR, min_kappa=0.4, min_labels=20, dataset=world.dataset)
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    yaml_editor(at)
    assert shown(at, "info", f"set by the admins (dataset {world.dataset}): Cohen's kappa ≥ 0.4")
    assert shown(at, "info", "over ≥ 20 labelled items")
    assert widget(at, "number_input", "Minimum kappa").value == 0.4
    assert widget(at, "number_input", "Minimum labelled items").value == 20
    assert not shown(at, "warning", "Lower than the admins' bar")
    widget(at, "number_input", "Minimum labelled items").set_value(10).run()
    assert shown(at, "warning", "Lower than the admins' bar: submitting is an **override**")
    widget(at, "number_input", "Minimum labelled items").set_value(25).run()
    assert not shown(at, "warning", "Lower than the admins' bar")
    widget(at, "text_area", "Config (YAML or JSON)").set_value(json.dumps(job_config()))
    click(at, "Submit job")  # kappa 0.5 clears the admins' 0.4: queued, no override
    [job] = jobs(engine)
    agreement = job.provenance["agreement"]
    assert agreement["override"] is None and agreement["min_labels"] == 25


def test_reward_preview_shows_the_worst_rubrics_first(
    app_db: str, engine: Engine, llm_server: ScriptedLLM
) -> None:
    world = seed_snapshot(engine, prompts=3, criteria=4)
    scripted = Scripted(llm_server)
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    yaml_editor(at)
    widget(at, "text_area", "Config (YAML or JSON)").set_value(json.dumps(scripted.config()))
    widget(at, "text_input", "Policy endpoint URL").set_value(llm_server.base_url)
    widget(at, "number_input", "Completions per prompt (K)").set_value(4)
    click(at, "Preview rewards")
    assert [m.value for m in at.metric][:1] == ["33%"]
    table = at.dataframe[-1].value
    assert list(table["Prompt"]) == ["med-000", "med-002", "med-001"]
    assert list(table["Zero spread"]) == [True, False, False]
    assert table["Editor"][0] == f"editor?prompt={world.prompts[0].prompt_id}"
    [histogram] = plotly_specs(at)
    assert histogram["data"][0]["y"] == [0, 2, 0, 0, 2, 0, 4, 0, 0, 4]
    assert shown(at, "caption", "K = 4 completions per prompt")
    # K left empty: the job's own group size, as training will see it.
    generations = scripted.config().get("num_generations", 16)
    widget(at, "number_input", "Completions per prompt (K)").set_value(None)
    click(at, "Preview rewards")
    assert shown(at, "caption", f"K = {generations} completions per prompt")
    # A broken policy endpoint is a message, and the page still works.
    widget(at, "text_input", "Policy endpoint URL").set_value("http://127.0.0.1:9/v1")
    widget(at, "text_input", "Policy key variable").set_value("NO_SUCH_KEY_VAR")
    click(at, "Preview rewards")
    assert shown(at, "error", "NO_SUCH_KEY_VAR is not set")


def test_an_annotator_may_watch_but_not_launch(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    job_id = submit(engine, world, reason=REASON)
    metric_rows(engine, job_id)
    at = app_as(add_account(app_db, "ann", "annotator"), PAGE)
    assert list(at.dataframe[0].value["Job"]) == [job_id]
    assert len(plotly_specs(at)) == 1
    assert not has(at, "button", "Cancel job")
    open_view(at, "New job")
    assert not has(at, "button", "Submit job") and not has(at, "button", "Preview rewards")
    assert shown(at, "info", "needs the researcher or admin role (yours: annotator)")


def test_the_reward_line_names_the_preset_and_the_category_map() -> None:
    from rubricforge.models.training.judge_spec import JudgeSpec
    from rubricforge.webapp.components.training import reward_line

    spec = JudgeSpec(base_url="http://x/v1", model="m", preset="rar_explicit_categories")
    line = reward_line({"mode": "explicit", **spec.provenance()})
    assert line.startswith("Reward preset rar_explicit_categories: RaR Eq. 1 with the paper's")
    assert "(Essential 1, Important 0.7, Optional 0.3, Pitfall 0.9)." in line
    # A job submitted before presets shows what it recorded.
    old = reward_line({"mode": "implicit", "aggregation": "rar_explicit"})
    assert old == "Reward: implicit judging, rar_explicit (no preset recorded)"
