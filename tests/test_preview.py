"""Reward preview against the scripted local server (policy and judge on one server, told
apart by model name): its numbers match a hand count, and a broken policy endpoint or
a bad setting is a clear message."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM
from rubricforge.models import TrainingJob
from rubricforge.models.core.errors import InvalidInputError, LLMConfigError, NotFoundError
from rubricforge.models.data.snapshot_rows import load_snapshot_rows
from rubricforge.models.judging.judge import Judge
from rubricforge.models.judging.orm import JudgeRun, Response
from rubricforge.models.judging.rewards import RewardPreset
from rubricforge.models.training.config import parse_job_config
from rubricforge.models.training.preview import (
    PreviewError,
    PreviewSettings,
    policy_endpoint,
    preview_rewards,
)
from rubricforge.trainer.reward import make_reward_func
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from training_support import ANSWER, Scripted, SnapshotWorld, seed_snapshot
from typer.testing import CliRunner

pytestmark = pytest.mark.db

K = 4
# The rubrics (training_support): Essential 5, Important 3, Optional 1, Pitfall -2.
# RaR-explicit: r = sum |w| * s / sum |w| with s = met (pitfall: not met); sum |w| = 11.
HAND = {
    # prompt 0: essential and important met, no pitfall, for every completion:
    # (5 + 3 + 2) / 11 each -> all equal, no spread.
    0: [10 / 11] * 4,
    # prompt 1: essential met on odd completions only: (5 + 2) / 11 or 2 / 11.
    1: [7 / 11, 2 / 11, 7 / 11, 2 / 11],
    # prompt 2: essential always met, pitfall hit on completions 1 and 2: 5/11 or 7/11.
    2: [5 / 11, 5 / 11, 7 / 11, 7 / 11],
}


@pytest.fixture
def world(engine: Engine) -> SnapshotWorld:
    return seed_snapshot(engine, prompts=3, criteria=4)


def test_preview_numbers_match_a_hand_count(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    scripted = Scripted(llm_server)
    preview = preview_rewards(
        engine,
        world.snapshot_id,
        scripted.config(),
        scripted.policy(),
        PreviewSettings(prompts=20, k=K, seed=3),
    )
    assert len(preview.groups) == 3  # every prompt: fewer than asked for
    by_prompt = {g.uid: g for g in preview.groups}
    for n, expected in HAND.items():
        group = by_prompt[f"med-{n:03d}"]
        assert group.prompt_id == world.prompts[n].prompt_id
        got = sorted(zip(group.completions, group.rewards, strict=True))
        assert [r for _, r in got] == pytest.approx(expected)
        assert group.std == pytest.approx(statistics.stdev(expected))
        assert group.mean == pytest.approx(sum(expected) / K)
    # Worst first: the zero-spread rubric, then the smaller spread (prompt 2: std 0.105
    # against prompt 1's 0.262).
    assert [g.uid for g in preview.groups] == ["med-000", "med-002", "med-001"]
    assert [g.zero_spread for g in preview.groups] == [True, False, False]
    assert preview.zero_spread_share == pytest.approx(1 / 3)
    assert sorted(preview.rewards) == pytest.approx(sorted(r for v in HAND.values() for r in v))
    # Histogram over [0, 1] in tenths: 2/11=0.18 (x2), 5/11=0.45 (x2), 7/11=0.64 (x4),
    # 10/11=0.91 (x4).
    counts = [n for _, _, n in preview.histogram()]
    assert counts == [0, 2, 0, 0, 2, 0, 4, 0, 0, 4]
    assert preview.judge_failures == 0
    # The policy sampled at the job's temperature and length.
    policy_calls = [r.body for r in llm_server.chat_requests if r.body["model"] == "policy"]
    assert len(policy_calls) == 3 * K
    assert {(b["temperature"], b["max_tokens"]) for b in policy_calls} == {(0.7, 64)}
    # Nothing stored but the judge's cache.
    with Session(engine) as s:
        assert s.scalar(select(func.count(JudgeRun.id))) == 0
        assert s.scalar(select(func.count(Response.id))) == 0
        assert s.scalar(select(func.count(TrainingJob.id))) == 0


def test_a_failed_judgment_gets_the_jobs_fallback_and_is_counted(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    scripted = Scripted(llm_server, fail_judging="answer 0.2")
    preview = preview_rewards(
        engine,
        world.snapshot_id,
        scripted.config(fallback_reward=0.25),
        scripted.policy(),
        PreviewSettings(k=K),
    )
    first = {g.uid: g for g in preview.groups}["med-000"]
    assert sorted(first.rewards) == pytest.approx([0.25, 10 / 11, 10 / 11, 10 / 11])
    assert (first.judge_failures, preview.judge_failures) == (1, 1)
    assert not first.zero_spread  # the fallback made a spread the judge did not
    assert preview.zero_spread_share == 0.0


def test_the_sample_is_seeded(engine: Engine, llm_server: ScriptedLLM) -> None:
    world = seed_snapshot(engine, prompts=12, criteria=4)
    scripted = Scripted(llm_server)
    picks = [
        sorted(
            g.uid
            for g in preview_rewards(
                engine,
                world.snapshot_id,
                scripted.config(),
                scripted.policy(),
                PreviewSettings(prompts=3, k=2, seed=seed),
            ).groups
        )
        for seed in (7, 7, 8)
    ]
    assert picks[0] == picks[1] and len(picks[0]) == 3
    assert picks[0] != picks[2]


def test_a_failing_policy_endpoint_is_one_clear_error(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM
) -> None:
    scripted = Scripted(llm_server)
    llm_server.respond_with(lambda body: Reply.error(404, "model 'policy' not found"))
    with pytest.raises(PreviewError) as err:
        preview_rewards(
            engine, world.snapshot_id, scripted.config(), scripted.policy(), PreviewSettings(k=2)
        )
    message = str(err.value)
    assert "failed on 6 of 6 completions" in message and "policy at " in message
    assert "Nothing was scored" in message and "model 'policy' exists there" in message


def test_bad_input_is_refused_with_a_message(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = Scripted(llm_server)
    with pytest.raises(InvalidInputError, match="preview k: Input should be greater than"):
        PreviewSettings.build(k=1)
    with pytest.raises(NotFoundError, match="export snapshot 999 does not exist"):
        preview_rewards(engine, 999, scripted.config(), scripted.policy())
    monkeypatch.delenv("POLICY_KEY", raising=False)
    with pytest.raises(LLMConfigError, match="POLICY_KEY is not set"):
        cfg = parse_job_config(scripted.config())
        keyed = policy_endpoint(cfg, base_url=llm_server.base_url, api_key_env="POLICY_KEY")
        preview_rewards(engine, world.snapshot_id, cfg, keyed)
    assert llm_server.chat_requests == []


def test_cli_prints_the_table(
    db_url: str,
    engine: Engine,
    world: SnapshotWorld,
    llm_server: ScriptedLLM,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from rubricforge.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("RUBRICFORGE_APP_URL", raising=False)
    scripted = Scripted(llm_server)
    cfg = tmp_path / "job.json"
    cfg.write_text(json.dumps(scripted.config()))
    run = CliRunner().invoke(
        app,
        [
            "train",
            "preview",
            "--snapshot",
            str(world.snapshot_id),
            "--config",
            str(cfg),
            "--prompts",
            "3",
            "--policy-url",
            llm_server.base_url,
            "--policy-key-env",
            "none",
        ],
    )
    assert run.exit_code == 0, run.output
    # K left out: the config's num_generations (4); the old mode explicit is its preset.
    assert "3 prompt(s) x 4 completions" in run.output
    assert "reward preset: rar_explicit_weights: RaR Eq. 1 with the rubric's own" in run.output
    # Hand count over the 12 completions (HAND above): essential 10 of 12, important 4,
    # optional 0, pitfall hit 2.
    assert (
        "per category, over 12 judged completion(s): essential met rate 0.83, important met "
        "rate 0.33, optional met rate 0.00, pitfall hit rate 0.17"
    ) in run.output
    assert "zero-spread groups: 1 of 3 (33%)" in run.output
    lines = [line for line in run.output.splitlines() if line.strip().startswith("med-")]
    assert [line.split()[0] for line in lines] == ["med-000", "med-002", "med-001"]
    # A full link to the app (`serve`'s default address), which works signed out too.
    link = f"http://127.0.0.1:8501/editor?prompt={world.prompts[0].prompt_id}"
    assert "yes" in lines[0] and link in lines[0]
    bad = CliRunner().invoke(
        app,
        [
            "train",
            "preview",
            "--snapshot",
            str(world.snapshot_id),
            "--config",
            str(cfg),
            "--k",
            "1",
            "--policy-url",
            llm_server.base_url,
        ],
    )
    assert bad.exit_code == 1 and "preview k" in bad.output and "Traceback" not in bad.output


# --- presets: the preview scores as the trainer's reward does --------------------------


class PresetJudge:
    """Scripted's policy and explicit verdicts, plus ratings (2 + n for the n-th
    completion, 8 + ... capped at 10 with the reference) and verdicts on the
    predefined rubric (its first criterion met on even n only)."""

    def __init__(self, server: ScriptedLLM):
        self.scripted = Scripted(server)
        server.respond_with(self.reply)

    def reply(self, body: dict[str, Any]) -> Reply:
        text = "\n".join(m["content"] for m in body["messages"])
        if body["model"] == "policy":
            return self.scripted.reply(body)
        n = int(ANSWER.search(text).group(2))  # type: ignore[union-attr]
        if "RUBRIC (" not in text:
            bump = 3 if "REFERENCE ANSWER" in text else 0
            return Reply.json({"rating": min(10, 2 + n + bump)})
        if "Correct answer" in text:
            met = [n % 2 == 0, True, False, True, False, False, False]
            return Reply.json(
                {
                    "verdicts": [
                        {"index": i, "met": m, "rationale": "r"} for i, m in enumerate(met, 1)
                    ]
                }  # fmt: skip
            )
        return self.scripted.reply(body)


@pytest.mark.parametrize("preset", list(RewardPreset))
def test_preview_equals_the_training_reward_for_every_preset(
    engine: Engine, world: SnapshotWorld, llm_server: ScriptedLLM, preset: RewardPreset
) -> None:
    scripted = PresetJudge(llm_server).scripted
    config = scripted.config(preset=preset.value, category_sample=6)
    del config["judge"]["mode"]
    cfg = parse_job_config(config)
    preview = preview_rewards(
        engine, world.snapshot_id, cfg, scripted.policy(), PreviewSettings(prompts=3)
    )
    assert preview.k == cfg.num_generations == 4  # K defaults to the job's group size
    assert preview.preset == preset.value
    # The trainer's reward function on the same completions, prompt by prompt.
    rows = {r.uid: r for r in load_snapshot_rows(engine, world.snapshot_id)}
    spec = cfg.judge
    sample = spec.sample_judge_config()
    func = make_reward_func(
        Judge(spec.judge_config()), sample_judge=Judge(sample) if sample else None,
        category_sample=spec.category_sample,
    )  # fmt: skip
    for group in preview.groups:
        row = rows[group.uid]
        trained = asyncio.run(
            func(
                prompts=[row.chat()] * 4,
                completions=[[{"role": "assistant", "content": c}] for c in group.completions],
                rubric=[row.rubric_column()] * 4,
                reference_answer=[row.reference_answer] * 4,
            )
        )
        assert list(group.rewards) == pytest.approx(trained)
    by_prompt = {g.uid: g for g in preview.groups}
    got = sorted(by_prompt["med-001"].rewards)
    assert got == pytest.approx(sorted(HAND_BY_PRESET[preset]))
    # Per-category pass rates in every preset: from the reward's verdicts on all 12
    # completions, or from an explicit sample of 6 of them (every other one, two per
    # prompt; which two depends on the order the policy's replies arrived in).
    rates = preview.category_rates
    assert set(rates) == {
        "rubric/essential_met_rate",
        "rubric/important_met_rate",
        "rubric/optional_met_rate",
        "rubric/pitfall_hit_rate",
    }
    assert preview.rated_completions == (12 if sample is None else 6)
    assert rates["rubric/optional_met_rate"] == 0  # the script never meets it
    if sample is None:
        # essential: all but prompt 1's 2 even completions (10/12); important: prompt 0
        # (4/12); pitfall hit: prompt 2's completions 1 and 2 (2/12).
        assert rates["rubric/essential_met_rate"] == pytest.approx(10 / 12)
        assert rates["rubric/important_met_rate"] == pytest.approx(4 / 12)
        assert rates["rubric/pitfall_hit_rate"] == pytest.approx(2 / 12)


# Prompt 1's four completions (Scripted: essential met on odd n; important, optional
# and the pitfall never), by hand. Rubric: Essential 5, Important 3, Optional 1, Pitfall -2.
HAND_BY_PRESET = {
    # Eq. 1 with weights: (5 + 2) / 11 on odd n, 2 / 11 on even n
    RewardPreset.rar_explicit_weights: [7 / 11, 2 / 11, 7 / 11, 2 / 11],
    # Eq. 1 with the paper's map: 1, .7, .3, -.9 (sum 2.9): (1 + .9) / 2.9 or .9 / 2.9
    RewardPreset.rar_explicit_categories: [1.9 / 2.9, 0.9 / 2.9, 1.9 / 2.9, 0.9 / 2.9],
    # points: 5 / 9 on odd n, 0 on even n
    RewardPreset.points: [5 / 9, 0, 5 / 9, 0],
    # ratings 2 + n for n = 1..4 -> (r - 1) / 9
    RewardPreset.implicit: [2 / 9, 3 / 9, 4 / 9, 5 / 9],
    RewardPreset.direct_likert: [2 / 9, 3 / 9, 4 / 9, 5 / 9],
    # with the reference: 5 + n, capped at 10 (n = 4 -> 9)
    RewardPreset.reference_likert: [5 / 9, 6 / 9, 7 / 9, 8 / 9],
    # predefined (5, 5, 4, 3, 2, 1, -2; sum 22): met 2 and 4 always, 1 on even n, the
    # pitfall avoided: (5 + 3 + 2) / 22 on odd n, (5 + 5 + 3 + 2) / 22 on even n
    RewardPreset.predefined: [10 / 22, 15 / 22, 10 / 22, 15 / 22],
}
