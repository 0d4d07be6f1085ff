"""The whole product in one journey, in a real Chromium, across every role.

From a fresh `rubricforge demo` workspace:

1. the admin adds an expert, an annotator and a researcher, and an LLM endpoint whose
   key lives in an environment variable (the connection test reaches the local
   scripted server with that key);
2. the expert uploads a RaR file on the Data page, asks the LLM for a draft of an
   imported prompt, takes it, edits a weight, saves and submits; a colleague
   approves it and draws a spot-check queue;
3. the annotator labels the queue blind (no verdict on the page until each label
   is stored);
4. the researcher reads the agreement dashboard, which counts the new labels, and
   flags a criterion; the expert finds the request in the editor, rewords the
   criterion (which resolves the request) and the colleague approves again;
5. the researcher freezes a snapshot on the Data page and downloads its RaR JSONL
   (the bytes `write_snapshot` writes), then submits a GRPO job on the Training
   page; a CPU worker (`rubricforge worker --once`) trains a tiny local model on
   it, judged by the scripted server; the page shows the reward curve.

A screenshot after each step goes to the test's tmp folder, and to docs/screenshots/
(journey-NN-*.png, for the README's tour) with RUBRICFORGE_DOCS_SCREENSHOTS=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browser import (
    REPO,
    StreamlitApp,
    choose,
    chromium,
    click_and_settle,
    edit_cell,
    publish_screenshot,
    sign_in,
    sign_out,
    wait_idle,
)
from llm_server import Reply, ScriptedLLM, rubric_items
from playwright.sync_api import Page, expect
from rubricforge.models.accounts.orm import User
from rubricforge.models.agreement.figures import agreement_report
from rubricforge.models.agreement.orm import HumanLabel
from rubricforge.models.core.status import Status
from rubricforge.models.data.exporter import write_snapshot
from rubricforge.models.data.orm import ExportSnapshot
from rubricforge.models.demo.loader import load_demo
from rubricforge.models.demo.schema import read_demo_data
from rubricforge.models.rubrics.authoring import load_editor_state
from rubricforge.models.rubrics.lint import lint
from rubricforge.models.rubrics.orm import (
    Criterion,
    Dataset,
    Prompt,
    RevisionRequest,
    Rubric,
    RubricStatus,
    RubricVersion,
)
from rubricforge.models.training.orm import TrainingJob
from rubricforge.models.training.worker_policy import MODELS_ENV, RUNS_DIR_ENV
from rubricforge.trainer.tiny import build_tiny_model
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

pytestmark = [pytest.mark.db, pytest.mark.browser, pytest.mark.slow]

PASSWORD = "journey horse battery"  # demo accounts and the new ones alike
KEY_ENV, KEY = "RUBRICFORGE_JOURNEY_KEY", "sk-journey-not-a-real-key"
DATASET = "rar-medicine"
ENDPOINT = "local-llm"
# The trainer's judge is the demo's judge model, so the agreement gate weighs its
# verdicts against the annotators' labels.
JUDGE_MODEL = read_demo_data().judge_model
QUEUE = "journey spot-check"
LABELS = ["Met", "Not met"]  # the annotator's labels, in turn
QUEUE_ITEMS = 4
VIEWPORT = {"width": 1440, "height": 1000}
WORKER_SECONDS = 240


def scripted_reply(body: dict[str, Any]) -> Reply:
    """One server for all three callers: the admin's connection test, drafting (eight
    RaR-shaped criteria) and the trainer's judge (explicit verdicts, a deterministic
    coin flip per criterion and completion, so GRPO's groups get different rewards)."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    found = re.search(r"RUBRIC \((\d+) criteria\)", text)
    if found is not None:
        n = int(found.group(1))
        coin = [hashlib.sha256(f"{i}|{text}".encode()).digest()[0] % 2 == 1 for i in range(n)]
        return Reply.json(
            {"verdicts": [{"index": i + 1, "met": m, "rationale": "r"} for i, m in enumerate(coin)]}
        )
    if "Reply with the word OK" in text:
        return Reply.text("OK")
    return Reply.json(rubric_items(8))


@dataclass
class Journey:
    """The browser, the app and what the steps learn on the way."""

    page: Page
    app: StreamlitApp
    engine: Engine
    db_url: str
    llm: ScriptedLLM
    tmp: Path
    shots: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        """Screenshot the page as it is now: journey-NN-name.png."""
        wait_idle(self.page)
        path = self.tmp / "screenshots" / f"journey-{len(self.shots) + 1:02d}-{name}.png"
        path.parent.mkdir(exist_ok=True)
        self.page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        return path

    def go(self, link: str, heading: str) -> None:
        # Through the navigation, as a user would (a reload keeps the session, but
        # starts a new Streamlit session state).
        self.page.get_by_role("link", name=link, exact=True).click()
        expect(self.page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        wait_idle(self.page)

    def as_user(self, username: str) -> None:
        if self.page.get_by_role("button", name="Sign out").count():
            sign_out(self.page)
        sign_in(self.page, self.app, username, PASSWORD)
        # A reload keeps the session (its HttpOnly cookie): still signed in, same user.
        self.page.reload()
        expect(self.page.get_by_text(f"Signed in as {username}")).to_be_visible()
        wait_idle(self.page)

    def flash(self, text: str) -> None:
        expect(self.page.get_by_text(text).first).to_be_visible()
        wait_idle(self.page)

    def open_prompt(self, external_id: str) -> None:
        self.go("Prompts", "Prompts")
        choose(self.page, "Open a prompt", external_id)
        self.page.get_by_role("button", name="Edit rubric").click()
        expect(self.page.get_by_role("heading", name="Rubric editor")).to_be_visible()
        wait_idle(self.page)

    def approve(self, external_id: str, version: int) -> None:
        """Approve the head version, confirming its lint errors if it has any."""
        with Session(self.engine) as s:
            prompt_id = s.scalars(select(Prompt.id).where(Prompt.external_id == external_id)).one()
            state = load_editor_state(s, prompt_id)
        assert state.head_version_number == version
        errors = [f for f in lint(state.criteria) if f.is_error]
        self.open_prompt(external_id)
        if errors:  # e.g. a demo pitfall worded as an avoidance, kept on purpose
            self.page.get_by_text(f"Approve despite {len(errors)} lint error(s)").click()
            wait_idle(self.page)
        self.page.get_by_role("button", name="Approve").click()
        self.flash(f"Approved (version {version}).")
        self.page.get_by_role("heading", name="Rubric editor").scroll_into_view_if_needed()

    def rubric(self, external_id: str) -> Rubric:
        with Session(self.engine) as s:
            return s.scalars(
                select(Rubric).join(Prompt).where(Prompt.external_id == external_id)
            ).one()


# --- the steps -------------------------------------------------------------------


def admin_sets_up_the_team(j: Journey) -> None:
    page = j.page
    j.as_user("admin")
    j.go("Admin", "Admin")
    for username, role in [("erin", "expert"), ("ann", "annotator"), ("rae", "researcher")]:
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Display name").fill(username.title())
        choose(page, "Role", role)
        page.get_by_role("textbox", name="Initial password").fill(PASSWORD)
        page.get_by_role("button", name="Add user").click()
        j.flash(f"Added {username} ({role}).")
    j.shot("admin-users")

    click_and_settle(page, page.get_by_role("tab", name="LLM endpoints"))
    page.get_by_role("textbox", name="Name", exact=True).fill(ENDPOINT)
    page.get_by_role("textbox", name="Model", exact=True).fill("qwen-local")
    page.get_by_role("textbox", name="Base URL").fill(j.llm.base_url)
    page.get_by_role("textbox", name="API key environment variable").fill(KEY_ENV)
    page.get_by_role("button", name="Save endpoint").click()
    j.flash(f"Saved endpoint {ENDPOINT}.")
    choose(page, "Endpoint", ENDPOINT)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text(re.compile(r"answered in .*'OK'"))).to_be_visible()
    # The key went from the server's environment to the endpoint, never through the DB.
    assert j.llm.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    j.shot("admin-endpoint")


def expert_imports_drafts_and_submits(j: Journey, sample: Path) -> str:
    """Upload the RaR file on the Data page, redraft one of its prompts with the LLM,
    edit and submit. Returns the prompt's external id."""
    page = j.page
    rows = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    external_id = rows[0]["uid"]

    j.as_user("erin")
    j.go("Data", "Data")
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(sample)
    # Uploaded (the name shown is shortened; the remove button carries it whole).
    expect(page.get_by_role("button", name=f"Remove {sample.name}")).to_be_visible()
    wait_idle(page)
    page.get_by_role("textbox", name="New dataset name").fill(DATASET)
    page.get_by_role("button", name="Preview").click()  # a dry run first: nothing written
    j.flash(f"Preview of importing {sample.name}")
    page.get_by_role("button", name="Import").click()
    j.flash(f"Imported {sample.name} into dataset “{DATASET}”.")
    added = page.get_by_test_id("stMetric").filter(has_text="Prompts added")
    expect(added.get_by_test_id("stMetricValue")).to_have_text(str(len(rows)))
    j.shot("expert-import")
    with Session(j.engine) as s:
        imported = s.scalars(
            select(Prompt.external_id).join(Dataset).where(Dataset.name == DATASET)
        ).all()
    assert sorted(imported) == sorted(r["uid"] for r in rows)

    j.open_prompt(external_id)
    expect(page.get_by_text("Rubric: draft · version 1")).to_be_visible()  # as imported
    # The imported rubric has a lint error (a pitfall worded as an avoidance): redraft it.
    expect(page.get_by_text("Lint: 1 error(s)")).to_be_visible()
    expect(page.get_by_role("combobox", name="LLM endpoint")).to_be_visible()  # the only one
    page.get_by_role("button", name="Redraft with LLM").click()
    expect(page.get_by_text("New draft: 8 criteria.")).to_be_visible()
    page.get_by_role("button", name="Take the draft as a new version").click()
    j.flash("Saved the redraft as version 2 (8 criteria).")
    assert j.llm.chat_requests[-1].headers["authorization"] == f"Bearer {KEY}"

    # Row 2 ("Important point 2", weight 4): its title cell, then right to the weight.
    assert edit_cell(page, 0, row=1, x=160, right=3, value="3") == "4"
    page.get_by_text("Unsaved changes").click()  # the diff of the edit, before saving
    diff = page.get_by_text("saved version → your edits: 1 changed")
    expect(diff).to_be_visible()
    wait_idle(page)
    note = page.get_by_role("textbox", name="Note for this version")
    expect(note).to_have_count(1)  # the rerun's stale copy is gone
    note.fill("Point 2 matters less than the essentials")
    diff.evaluate("el => el.scrollIntoView({block: 'center'})")
    j.shot("expert-editing")
    page.get_by_role("button", name="Save version").click()
    j.flash("Saved version 3.")
    with Session(j.engine) as s:
        notes = s.scalars(
            select(RubricVersion.note)
            .join(Rubric, Rubric.id == RubricVersion.rubric_id).join(Prompt)
            .where(Prompt.external_id == external_id).order_by(RubricVersion.number)
        ).all()  # fmt: skip
    assert notes[1:] == ["LLM redraft by qwen-local", "Point 2 matters less than the essentials"]
    page.get_by_role("button", name="Submit for review").click()
    j.flash("Submitted for review (version 3).")
    expect(page.get_by_text("You wrote version 3, so another expert reviews it.")).to_be_visible()
    return external_id


def colleague_approves_and_draws_a_queue(j: Journey, external_id: str) -> None:
    page = j.page
    j.as_user("expert2")
    j.approve(external_id, 3)
    j.shot("approved")

    j.go("Spot-check", "Spot-check")
    page.get_by_role("textbox", name="Queue name").fill(QUEUE)
    page.get_by_role("spinbutton", name="Items").fill(str(QUEUE_ITEMS))
    page.get_by_role("button", name="Draw queue").click()
    j.flash(f"Queue {QUEUE} drawn: {QUEUE_ITEMS} items.")


def annotator_labels_blind(j: Journey, judge_model: str) -> int:
    """Label every item left for the annotator (met / not met in turn); how many."""
    page = j.page
    j.as_user("ann")
    j.go("Spot-check", "Spot-check")
    # Items the demo's annotators already labelled count towards the queue: what is
    # left for ann is what the caption says.
    caption = page.get_by_text(re.compile(r"left for you, this one included"))
    expect(caption).to_be_visible()
    left = int(re.search(r"(\d+) left for you", caption.inner_text()).group(1))  # type: ignore[union-attr]
    assert left >= 2, "the queue should leave the annotator something to label"
    choices = [LABELS[n % len(LABELS)] for n in range(left)]
    for n, choice in enumerate(choices):
        expect(page.get_by_text(f"{left - n} left for you, this one included")).to_be_visible()
        wait_idle(page)
        # Blind: neither the judge's name nor its verdict before the label is stored.
        expect(page.get_by_text("What the judge said")).to_have_count(0)
        expect(page.get_by_text(judge_model)).to_have_count(0)
        if n == 0:
            j.shot("annotator-blind")
        # The accessible name ends with the shortcut's key ("Not met N").
        page.get_by_role("button", name=re.compile(rf"^{choice}\b")).click()
        expect(page.get_by_text(f"Your label is stored: {choice.lower()}.")).to_be_visible()
        expect(page.get_by_text("What the judge said")).to_be_visible()
        said = page.get_by_text(
            re.compile(rf"^{re.escape(judge_model)} \(explicit\): (met|not met)$")
        )
        expect(said).to_be_visible()
        if n == 0:
            said.evaluate("el => el.scrollIntoView({block: 'center'})")
            j.shot("annotator-revealed")
        page.get_by_role("button", name="Next item").click()
    expect(page.get_by_text("Nothing left for you in this queue")).to_be_visible()
    with Session(j.engine) as s:
        ann = s.scalars(select(User.id).where(User.username == "ann")).one()
        mine = s.scalars(select(HumanLabel).where(HumanLabel.annotator_id == ann)).all()
    assert [lab.met for lab in sorted(mine, key=lambda lab: lab.id)] == [
        choice == "Met" for choice in choices
    ]
    return left


def researcher_reads_agreement_and_flags(j: Journey, expected_labels: int) -> Criterion:
    """The dashboard counts the annotator's labels; flag its first criterion. Returns it."""
    page = j.page
    with Session(j.engine) as s:
        report = agreement_report(s)
    assert report.n_labels == expected_labels

    j.as_user("rae")
    j.go("Agreement", "Agreement")
    expect(page.get_by_text(f"{report.n_labels} labels on {report.n_items} items")).to_be_visible()
    kappa = page.get_by_test_id("stMetric").filter(has_text="Cohen's kappa")
    expected = f"{report.overall.kappa.value:.3f}" if report.overall.kappa.defined else "—"
    expect(kappa.get_by_test_id("stMetricValue")).to_have_text(expected)
    j.shot("agreement")

    click_and_settle(page, page.get_by_role("tab", name="Disagreements"))
    page.get_by_role("textbox", name="Why it needs revising").fill(
        "The judge and the annotators read this criterion differently"
    )
    page.get_by_role("button", name="Flag for revision").click()
    j.flash("is back in draft with revision request")
    with Session(j.engine) as s:
        request = s.scalars(select(RevisionRequest)).one()
        criterion = s.get_one(Criterion, request.criterion_id)
        s.expunge(criterion)
    return criterion


def expert_revises_the_flagged_criterion(j: Journey, criterion: Criterion) -> tuple[str, int]:
    """Reword the flagged criterion's description; returns (prompt, version saved)."""
    page = j.page
    with Session(j.engine) as s:
        rubric = s.scalars(
            select(Rubric).join(RubricVersion, RubricVersion.rubric_id == Rubric.id)
            .where(RubricVersion.id == criterion.version_id)
        ).one()  # fmt: skip
        external_id = s.get_one(Prompt, rubric.prompt_id).external_id
        head = s.get_one(RubricVersion, rubric.head_version_id)
        row = s.scalars(
            select(Criterion.position).where(
                Criterion.version_id == head.id, Criterion.key == criterion.key
            )
        ).one()
    assert rubric.status is RubricStatus.draft  # the flag sent it back

    j.as_user("erin")
    j.open_prompt(external_id)
    requests = page.get_by_text("Open revision requests (1)")
    requests.click()
    expect(page.get_by_text(f"on “{criterion.title}” by rae")).to_be_visible()
    reworded = f"{criterion.description} Judge it from the response's own words only."
    # Grid 0 is the request's evidence table; the criteria table comes next.
    assert edit_cell(page, 1, row=row, x=160, right=1, value=reworded) == criterion.description
    page.get_by_role("textbox", name="Note for this version").fill("Reworded after the flag")
    j.shot("expert-revising")
    page.get_by_role("button", name="Save version").click()
    version = head.number + 1
    j.flash(f"Saved version {version}. It resolves revision request(s)")
    expect(page.get_by_text("Open revision requests")).to_have_count(0)
    page.get_by_role("button", name="Submit for review").click()
    j.flash(f"Submitted for review (version {version}).")
    return external_id, version


def researcher_trains(j: Journey, model: Path) -> None:
    page = j.page
    with Session(j.engine) as s:
        # An approved version stays exportable while a newer one awaits review.
        approved = s.scalars(
            select(Rubric.id).where(
                Rubric.approved_version_id.is_not(None), Rubric.status != RubricStatus.retired
            )
        ).all()
    j.as_user("rae")
    j.go("Data", "Data")
    page.get_by_role("tab", name="Export snapshots").click()  # open already: rae may not import
    wait_idle(page)
    page.get_by_role("textbox", name="Snapshot name (optional)").fill("journey")
    page.get_by_role("button", name="Create snapshot").click()
    j.flash(f"“journey”: {len(approved)} rubrics, sha256")
    with Session(j.engine) as s:
        snapshot = s.scalars(select(ExportSnapshot)).one()
    assert snapshot.name == "journey" and snapshot.row_count == len(approved)
    page.get_by_role("button", name="Prepare downloads").click()
    button = page.get_by_role("button", name="Download RaR JSONL")
    expect(button).to_be_visible()
    wait_idle(page)
    with page.expect_download() as download:
        button.click()
    got = Path(download.value.path()).read_bytes()
    written = write_snapshot(j.engine, snapshot.id, j.tmp / "export")
    assert got == written["jsonl"].read_bytes()
    assert download.value.suggested_filename == f"snapshot-{snapshot.id}-journey-rar.jsonl"
    j.shot("researcher-snapshot")

    j.go("Training", "Training")
    views = page.locator('[data-testid="stButtonGroup"] button')
    views.filter(has_text="New job").click()
    expect(page.get_by_role("combobox", name="Snapshot")).to_be_visible()
    views.filter(has_text="YAML (advanced)").click()
    config = {
        "model_name_or_path": "tiny",  # on the worker's allowlist (below), never a path
        "judge": {"base_url": j.llm.base_url, "model": JUDGE_MODEL, "mode": "explicit",
                  "api_key_env": KEY_ENV},
        "run_name": "policy",
        "num_generations": 2,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_steps": 3,
        "max_completion_length": 8,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "gradient_checkpointing": False,
    }  # fmt: skip
    page.get_by_role("textbox", name="Config (YAML or JSON)").fill(json.dumps(config, indent=2))
    page.get_by_role("button", name="Submit job").click()
    # A few dozen labels on the snapshot's criteria: fewer than the gate's 30.
    expect(page.get_by_text(re.compile(r"agreement gate: judge .* on snapshot"))).to_be_visible()
    expect(page.get_by_text("To launch anyway, write why")).to_be_visible()
    page.get_by_role("textbox", name="Override reason").fill(
        "Pipeline check on a tiny model; the spot-checks continue"
    )
    page.get_by_role("button", name="Submit job").click()
    j.flash("queued; a trainer worker")
    with Session(j.engine) as s:
        job_id = s.scalars(select(TrainingJob.id)).one()
    # The form stays open after a submit; the Jobs view has the new job chosen.
    views.filter(has_text="Jobs").click()
    expect(page.get_by_text(f"Job {job_id}: queued")).to_be_visible()

    log = j.tmp / "worker.log"
    env = {**os.environ, "DATABASE_URL": j.db_url, "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", KEY_ENV: KEY, MODELS_ENV: f"tiny={model}",
           RUNS_DIR_ENV: str(j.tmp / "runs")}  # fmt: skip
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "rubricforge.cli", "worker", "--once", "--lease-seconds", "60"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert worker.wait(timeout=WORKER_SECONDS) == 0, log.read_text()[-3000:]
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail(f"worker did not finish:\n{log.read_text()[-3000:]}")
    with Session(j.engine) as s:
        job = s.get_one(TrainingJob, job_id)
        assert job.status is Status.succeeded, (job.error, log.read_text()[-3000:])

    # The page polls a live job and reloads itself once it has finished.
    expect(page.get_by_text(f"Job {job_id}: succeeded")).to_be_visible(timeout=30_000)
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_be_visible()
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length > 0"
    )
    drawn = chart.evaluate(
        "el => el.data.filter(t => t.name === 'reward mean').map(t => [t.x, t.y])[0]"
    )
    assert drawn[0] == [1, 2, 3]
    expect(page.get_by_text("Overridden by rae")).to_be_visible()
    chart.scroll_into_view_if_needed()
    j.shot("training-curve")


# --- the test ----------------------------------------------------------------------


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with chromium(tmp_path, VIEWPORT) as p:
        yield p


def test_the_whole_product_from_the_demo_to_a_reward_curve(
    db_url: str,
    engine: Engine,
    llm_server: ScriptedLLM,
    page: Page,
    rar_sample: Path,
    tmp_path: Path,
) -> None:
    load_demo(engine, password=PASSWORD)
    with Session(engine) as s:
        labels_before = agreement_report(s).n_labels
    llm_server.respond_with(scripted_reply)
    model = build_tiny_model(tmp_path / "tiny-qwen2")
    app = StreamlitApp({"DATABASE_URL": db_url, KEY_ENV: KEY}, tmp_path / "streamlit.log")
    j = Journey(page, app, engine, db_url, llm_server, tmp_path)
    try:
        admin_sets_up_the_team(j)
        drafted = expert_imports_drafts_and_submits(j, rar_sample)
        colleague_approves_and_draws_a_queue(j, drafted)
        labelled = annotator_labels_blind(j, JUDGE_MODEL)
        flagged = researcher_reads_agreement_and_flags(j, labels_before + labelled)
        revised, version = expert_revises_the_flagged_criterion(j, flagged)
        j.as_user("expert2")
        j.approve(revised, version)
        j.shot("re-approved")
        researcher_trains(j, model)
    except BaseException:
        page.screenshot(path=tmp_path / "failure.png")  # where the journey stopped
        raise
    finally:
        app.stop()

    assert j.rubric(drafted).status is RubricStatus.approved
    assert j.rubric(revised).status is RubricStatus.approved
    with Session(engine) as s:
        assert s.scalars(select(RevisionRequest.resolved_at)).one() is not None
    for shot in j.shots:
        assert shot.stat().st_size > 10_000
        publish_screenshot(shot, shot.name)
