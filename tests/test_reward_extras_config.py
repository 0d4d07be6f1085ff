"""Job configs with what comes around the rubric reward: verifiable rewards and their
weights, the rubric-free monitor, and the self-critique judge. Unit tier: no
database, no training. vLLM is not installed here, so self-critique is tested up
to the judge endpoint the worker builds, not against a live vLLM server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rubricforge.models.training.config import JobConfigError, parse_job_config
from rubricforge.models.training.reward_extras import monitor_endpoint, reward_weights
from rubricforge.models.training.worker_policy import WorkerPolicy
from rubricforge.trainer.config import grpo_args
from rubricforge.trainer.run import build_judge

JUDGE = {"base_url": "http://judge:8000/v1", "model": "gpt-4o-mini", "mode": "explicit"}
VLLM = {"use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": "http://vllm:8000"}


def config(**overrides: object) -> dict:
    return {"model_name_or_path": "Qwen/Qwen2.5-7B", "judge": dict(JUDGE), **overrides}


def problems(data: dict) -> dict[str, str]:
    with pytest.raises(JobConfigError) as err:
        parse_job_config(data)
    assert "nothing was queued" in str(err.value)
    return dict(err.value.problems)


# --- verifiable rewards --------------------------------------------------------------


def test_verifiable_rewards_become_reward_weights_rubric_first() -> None:
    cfg = parse_job_config(
        config(
            rubric_weight=0.7,
            verifiable_rewards=[
                {"kind": "choice", "weight": 0.3, "options": {"letters": "ABCD"}},
                {"kind": "regex", "weight": -0.1, "options": {"pattern": "I cannot help"}},
            ],
        )
    )
    assert reward_weights(cfg) == [0.7, 0.3, -0.1]
    assert reward_weights(parse_job_config(config())) is None


def test_every_bad_verifiable_reward_is_listed_and_nothing_is_queued() -> None:
    found = problems(
        config(
            verifiable_rewards=[
                {"kind": "regex", "weight": 1, "options": {"pattern": "(a+)+$"}},
                {"kind": "numeric", "weight": 1, "options": {"tol": 0.1}},
                {"kind": "choice"},
                {"kind": "exact", "weight": 1, "extra": True},
            ]
        )
    )
    assert "backtracks catastrophically" in found["verifiable_rewards.0"]
    assert "options.tol: not an option of numeric" in found["verifiable_rewards.1"]
    assert found["verifiable_rewards.2.weight"].startswith("required")
    assert "unknown setting" in found["verifiable_rewards.3.extra"]


def test_too_many_verifiable_rewards_and_reward_weights_in_trl_args_are_refused() -> None:
    many = [{"kind": "exact", "weight": 1}] * 9
    assert "at most 8 items" in problems(config(verifiable_rewards=many))["verifiable_rewards"]
    found = problems(config(trl_args={"reward_weights": [1.0]}))
    assert "reward_weights" in found["trl_args"]


# --- the monitor ---------------------------------------------------------------------


def test_monitor_defaults_to_the_jobs_judge_without_the_rubric() -> None:
    cfg = parse_job_config(config(monitor={"every_steps": 10, "sample_size": 4}))
    endpoint = monitor_endpoint(cfg)
    assert (endpoint.base_url, endpoint.model) == ("http://judge:8000/v1", "gpt-4o-mini")
    assert endpoint.api_key_env == "OPENAI_API_KEY"
    assert cfg.monitor.mode == "likert"


def test_monitor_may_use_its_own_endpoint() -> None:
    cfg = parse_job_config(
        config(monitor={"every_steps": 5, "base_url": "http://other/v1", "model": "m2",
                        "api_key_env": "none", "mode": "reference_likert"})
    )  # fmt: skip
    endpoint = monitor_endpoint(cfg)
    assert (endpoint.base_url, endpoint.model, endpoint.api_key_env) == (
        "http://other/v1",
        "m2",
        None,
    )


def test_bad_monitor_settings_are_named() -> None:
    found = problems(
        config(monitor={"every_steps": -1, "sample_size": 0, "base_url": "ftp://x",
                        "api_key_env": "sk-live-123"})
    )  # fmt: skip
    assert set(found) >= {
        "monitor.every_steps",
        "monitor.sample_size",
        "monitor.base_url",
        "monitor.api_key_env",
    }
    assert "NAME of an environment variable" in found["monitor.api_key_env"]
    msg = problems(config(judge={**JUDGE, "mode": "likert"}, monitor={"every_steps": 2}))["config"]
    assert "already rubric-free (likert)" in msg
    # Off, a rubric-free job judge is fine.
    assert parse_job_config(config(judge={**JUDGE, "mode": "likert"}))


# --- self-critique -------------------------------------------------------------------


def test_self_critique_points_the_judge_at_the_trainers_vllm_server() -> None:
    cfg = parse_job_config(config(judge={"self_critique": True, "mode": "explicit"}, **VLLM))
    assert (cfg.judge.base_url, cfg.judge.model) == ("http://vllm:8000/v1", "Qwen/Qwen2.5-7B")
    assert cfg.judge.api_key_env is None  # vLLM serves without a key
    # What the worker builds from it, and a stored config reads back the same.
    judge = build_judge(cfg.judge)
    assert judge.config.endpoint.base_url == "http://vllm:8000/v1"
    assert judge.config.endpoint.model == "Qwen/Qwen2.5-7B"
    assert parse_job_config(cfg.model_dump(mode="json")) == cfg


def test_self_critique_served_under_another_name_keeps_the_judge_model() -> None:
    data = config(judge={"self_critique": True, "model": "policy"}, **VLLM)
    data["vllm_server_base_url"] = "http://vllm:8000/v1/"
    cfg = parse_job_config(data)
    assert (cfg.judge.base_url, cfg.judge.model) == ("http://vllm:8000/v1", "policy")


@pytest.mark.parametrize(
    "vllm",
    [{}, {"use_vllm": True}, {**VLLM, "vllm_mode": "colocate"}, {**VLLM, "use_vllm": False}],
)
def test_self_critique_without_a_vllm_server_is_refused(vllm: dict) -> None:
    msg = problems(config(judge={**JUDGE, "self_critique": True}, **vllm))["config"]
    assert msg.startswith("judge.self_critique needs use_vllm: true, vllm_mode: server")


def test_self_critique_with_another_judge_url_is_refused() -> None:
    msg = problems(config(judge={**JUDGE, "self_critique": True}, **VLLM))["config"]
    assert "the judge is the trainer's vLLM server (http://vllm:8000/v1)" in msg
    assert "leave judge.base_url out" in msg


def test_self_critique_monitor_needs_an_independent_judge() -> None:
    data = config(judge={"self_critique": True}, monitor={"every_steps": 5}, **VLLM)
    assert "the policy would grade its own drift" in problems(data)["config"]
    data["monitor"]["base_url"] = "http://judge:8000/v1"
    assert monitor_endpoint(parse_job_config(data)).base_url == "http://judge:8000/v1"


def test_the_worker_passes_reward_weights_to_trl(tmp_path: Path) -> None:
    cfg = parse_job_config(
        config(verifiable_rewards=[{"kind": "numeric", "weight": 0.5}], rubric_weight=2)
    )
    assert grpo_args(cfg, tmp_path)["reward_weights"] == [2.0, 0.5]
    assert "reward_weights" not in grpo_args(parse_job_config(config()), tmp_path)


def test_a_hostile_regex_written_behind_the_services_back_is_refused_by_the_worker(
    tmp_path: Path,
) -> None:
    # What a worker does with a stored config at claim: re-validate, so the pattern
    # never reaches a training step.
    policy = WorkerPolicy(runs_dir=tmp_path, models={"Qwen/Qwen2.5-7B": "Qwen/Qwen2.5-7B"})
    stored = config(verifiable_rewards=[{"kind": "regex", "weight": 1,
                                          "options": {"pattern": r"(\w+\s?)*$"}}])  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(JobConfigError) as err:
        policy.check(stored)
    assert "backtracks catastrophically" in dict(err.value.problems)["verifiable_rewards.0"]
    assert time.perf_counter() - started < 10
