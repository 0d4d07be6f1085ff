"""The Training page's New job form and Evaluate view under AppTest, against a real
Postgres: the form starts from RaR's defaults judged by the admins' endpoint, keeps
the researcher on the form while they edit and submit, round-trips with the YAML
editor; the Evaluate view shows both judges' scores and compares two runs."""

from __future__ import annotations

import pytest
import yaml
from eval_support import EvalScript
from llm_server import ScriptedLLM
from rubricforge.models import TrainingJob
from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.db import session_scope
from rubricforge.models.llm.endpoints import save_endpoint
from rubricforge.models.training.evaluation import run_eval
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest
from training_support import (
    SnapshotWorld,
    confusion,
    researcher,
    seed_snapshot,
    spotchecks,
)
from webapp_support import add_account, app_as, click, has, shown, widget

pytestmark = pytest.mark.db

PAGE = "views/training.py"
REASON = "pilot: pitfall labels are being redone"
YAML = "YAML (advanced)"


@pytest.fixture
def world(app_db: str, engine: Engine) -> SnapshotWorld:
    world = seed_snapshot(engine, prompts=3, criteria=4)
    spotchecks(engine, world, confusion(tn=6, fp=2, fn=2, tp=2))  # refused: needs a reason
    with session_scope(engine) as s:
        save_endpoint(
            s, OPERATOR, "team-judge", base_url="http://judge.internal:8000/v1",
            model="qwen-judge", api_key_env="JUDGE_KEY", params={"max_retries": 2},
        )  # fmt: skip
    return world


def jobs(engine: Engine) -> list[TrainingJob]:
    with Session(engine) as s:
        return list(s.query(TrainingJob).order_by(TrainingJob.id))


def new_job(app_db: str) -> AppTest:
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    widget(at, "segmented_control", "View").set_value("New job").run()
    return at


def view(at: AppTest) -> str:
    return str(widget(at, "segmented_control", "View").value)


def test_the_form_submits_with_the_admins_judge_and_stays_open(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    at = new_job(app_db)
    # RaR's defaults, judged by the endpoint the admin configured.
    assert widget(at, "selectbox", "Judge endpoint").value == "team-judge"
    assert widget(at, "number_input", "Max steps").value == 300
    assert widget(at, "number_input", "Learning rate").value == pytest.approx(5e-6)
    assert widget(at, "number_input", "Num generations").value == 16
    assert widget(at, "selectbox", "Preset").value == "implicit"
    widget(at, "text_input", "Base model").set_value("tiny-qwen")
    widget(at, "number_input", "Max steps").set_value(9)
    widget(at, "number_input", "Num generations").set_value(4)
    widget(at, "number_input", "Per device train batch size").set_value(4)
    widget(at, "number_input", "Gradient accumulation steps").set_value(1)
    widget(at, "selectbox", "Preset").set_value("rar_explicit_categories").run()
    assert view(at) == "New job"  # an edit reruns the page; the view stays
    widget(at, "text_area", "Override reason").set_value(REASON)
    click(at, "Submit job")
    [job] = jobs(engine)
    assert shown(at, "success", f"Job {job.id} queued; a trainer worker (rubricforge worker)")
    assert job.config["max_steps"] == 9 and job.config["num_generations"] == 4
    assert job.config["judge"]["base_url"] == "http://judge.internal:8000/v1"
    assert job.config["judge"]["model"] == "qwen-judge"
    assert job.config["judge"]["api_key_env"] == "JUDGE_KEY"
    assert (
        job.config["judge"]["max_retries"] == 2
        and job.config["judge"]["preset"] == "rar_explicit_categories"
    )
    # Submitted, then edited again: still on the form, the edit kept.
    widget(at, "number_input", "Max steps").set_value(12).run()
    assert view(at) == "New job" and widget(at, "number_input", "Max steps").value == 12
    assert has(at, "button", "Submit job")
    texts = [e.value for kind in ("success", "error", "info", "warning", "caption")
             for e in getattr(at, kind)]  # fmt: skip
    assert not any("`" in str(t) for t in texts)


def test_the_form_and_the_yaml_round_trip(
    app_db: str, engine: Engine, world: SnapshotWorld
) -> None:
    at = new_job(app_db)
    widget(at, "number_input", "Max steps").set_value(7)
    widget(at, "selectbox", "Judge endpoint").set_value("Custom endpoint").run()
    widget(at, "text_input", "Judge URL").set_value("http://127.0.0.1:9/v1")
    widget(at, "text_input", "Judge model").set_value("judge-m").run()
    widget(at, "segmented_control", "Edit the config as").set_value(YAML).run()
    shown_yaml = yaml.safe_load(widget(at, "text_area", "Config (YAML or JSON)").value)
    assert shown_yaml["max_steps"] == 7 and shown_yaml["judge"]["model"] == "judge-m"
    assert shown_yaml["judge"]["base_url"] == "http://127.0.0.1:9/v1"
    # Edited as YAML (with a setting the form has no widget for), back to the form.
    shown_yaml.update(max_steps=11, model_name_or_path="tiny-qwen", num_generations=2,
                      per_device_train_batch_size=4, gradient_accumulation_steps=1,
                      trl_args={"top_p": 0.9})  # fmt: skip
    widget(at, "text_area", "Config (YAML or JSON)").set_value(yaml.safe_dump(shown_yaml))
    widget(at, "segmented_control", "Edit the config as").set_value("Form").run()
    assert widget(at, "number_input", "Max steps").value == 11
    assert widget(at, "text_input", "Base model").value == "tiny-qwen"
    assert widget(at, "selectbox", "Judge endpoint").value == "Custom endpoint"
    widget(at, "text_area", "Override reason").set_value(REASON)
    click(at, "Submit job")
    [job] = jobs(engine)
    assert job.config["max_steps"] == 11 and job.config["trl_args"] == {"top_p": 0.9}
    assert job.config["judge"]["model"] == "judge-m"
    # YAML that does not read: the form keeps the last settings that did, and says so.
    widget(at, "segmented_control", "Edit the config as").set_value(YAML).run()
    widget(at, "text_area", "Config (YAML or JSON)").set_value("judge: [unclosed")
    widget(at, "segmented_control", "Edit the config as").set_value("Form").run()
    assert shown(at, "warning", "The YAML did not read")
    assert widget(at, "number_input", "Max steps").value == 11
    # A value of the wrong type in the YAML: the widget starts from the default, said so.
    widget(at, "segmented_control", "Edit the config as").set_value(YAML).run()
    widget(at, "text_area", "Config (YAML or JSON)").set_value("max_steps: many\n")
    widget(at, "segmented_control", "Edit the config as").set_value("Form").run()
    assert not at.exception, at.exception
    assert shown(at, "warning", "Max steps: 'many' is not a valid value")
    assert widget(at, "number_input", "Max steps").value == 300


def test_the_evaluate_view_compares_two_runs(
    app_db: str, engine: Engine, llm_server: ScriptedLLM
) -> None:
    at = app_as(add_account(app_db, "rita", "researcher"), PAGE)
    widget(at, "segmented_control", "View").set_value("Evaluate").run()
    assert shown(at, "info", "No eval runs yet")
    world = seed_snapshot(engine, prompts=3, criteria=4)
    script = EvalScript(llm_server)
    ids = [
        run_eval(engine, actor=researcher("rita"), snapshot_id=world.snapshot_id,
                 judge=script.judge(), policy=script.policy(name), label=name)
        for name in ("base", "trained")
    ]  # fmt: skip
    at.run()
    assert view(at) == "Evaluate"
    listed = at.dataframe[0].value
    assert list(listed["Run"]) == ids[::-1] and list(listed["Policy"]) == ["trained", "base"]
    assert list(listed["Rubric reward"]) == pytest.approx([29 / 33, 18 / 33], abs=1e-4)
    widget(at, "selectbox", "Eval run").set_value(ids[0]).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rubric reward mean"] == "0.545" and metrics["Rubric-free mean"] == "0.444"
    rates = at.dataframe[1].value
    assert dict(zip(rates["Category"], rates["Met"], strict=True))["Essential"] == "67%"
    per_prompt = at.dataframe[2].value
    assert list(per_prompt["Completion"]) == [f"base answer {n}" for n in range(3)]
    # Baseline: base; compared: trained (the newest), prompt by prompt.
    assert widget(at, "selectbox", "Baseline run").value == ids[0]
    assert shown(at, "markdown", "rubric: mean difference +0.333 over 3 prompt(s), 95% interval")
    assert shown(at, "markdown", "rubric-free: mean difference +0.222 over 3 prompt(s)")
    diffs = at.dataframe[3].value
    assert list(diffs["Rubric difference"]) == pytest.approx([0, 6 / 11, 5 / 11], abs=1e-4)
    widget(at, "selectbox", "Compared run").set_value(ids[0]).run()
    assert shown(at, "info", "Pick two different eval runs")
    assert at.error.len == 0
