"""What a job adds around the rubric reward, checked across fields: the self-critique
judge (the policy grading itself through the trainer's vLLM server), the
rubric-free drift monitor (models/training/divergence.py) and the verifiable
rewards (models/training/verifiable.py).

`fill_self_critique` runs before JobConfig's own validation and points the judge
at the vLLM server; `check_extras` runs after it and refuses combinations that
cannot work. Both are attached to JobConfig in config.py; this module imports
no config (config imports it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rubricforge.models.judging.orm import JudgeMode
from rubricforge.models.llm.config import EndpointConfig

if TYPE_CHECKING:
    from rubricforge.models.training.config import JobConfig

SELF_CRITIQUE_HELP = (
    "The judge is the policy itself, served from the current checkpoint by the trainer's "
    "vLLM server (Kimi K2's self-critique rubric reward). Needs use_vllm: true, vllm_mode: "
    "server and vllm_server_base_url; judge.base_url is then that server's /v1 and "
    "judge.model defaults to model_name_or_path. Risk: the policy prefers its own style "
    "(self-preference); measure it on the Leaderboard."
)
VERIFIABLE_HELP = (
    "Verifiable rewards added to the rubric reward, each {kind, weight, options}: exact, "
    "choice, numeric (against the reference answer) or regex (on the completion)."
)
RUBRIC_WEIGHT_HELP = "Weight of the rubric reward next to the verifiable rewards."
MONITOR_HELP = "Rubric-free drift monitor: a Direct-Likert judge scores a sample now and then."
_RUBRIC_FREE = (JudgeMode.likert, JudgeMode.reference_likert)


def vllm_judge_url(server_url: str) -> str:
    """The OpenAI-compatible base URL of a `trl vllm-serve` / `vllm serve` server."""
    url = server_url.strip().rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def fill_self_critique(cls: Any, data: Any) -> Any:
    """JobConfig's before-validator: with judge.self_critique and a vLLM server, the
    judge's base_url (the server's /v1), model (the policy's name) and key variable
    (none: vLLM serves without one) default to the policy server's."""
    if not isinstance(data, dict) or not isinstance(data.get("judge"), dict):
        return data
    judge = dict(data["judge"])
    url = data.get("vllm_server_base_url")
    if judge.get("self_critique") is not True or not isinstance(url, str) or not url.strip():
        return data
    if not judge.get("base_url"):
        judge["base_url"] = vllm_judge_url(url)
    if not judge.get("model") and isinstance(data.get("model_name_or_path"), str):
        judge["model"] = data["model_name_or_path"]
    judge.setdefault("api_key_env", "none")
    return {**data, "judge": judge}


def check_extras(cfg: JobConfig) -> JobConfig:
    """JobConfig's after-validator for self_critique, monitor and verifiable rewards."""
    problems = []
    judge, monitor = cfg.judge, cfg.monitor
    if judge.self_critique:
        if not (cfg.use_vllm and cfg.vllm_mode == "server" and cfg.vllm_server_base_url):
            problems.append(
                "judge.self_critique needs use_vllm: true, vllm_mode: server and "
                "vllm_server_base_url: the judge is the policy served by the trainer's vLLM "
                "server, and colocated vLLM (or none) offers no endpoint to call"
            )
        elif judge.base_url.rstrip("/") != vllm_judge_url(cfg.vllm_server_base_url):
            problems.append(
                "with judge.self_critique the judge is the trainer's vLLM server "
                f"({vllm_judge_url(cfg.vllm_server_base_url)}); leave judge.base_url out"
            )
        if monitor.enabled and not monitor.base_url:
            problems.append(
                "with judge.self_critique set monitor.base_url (and monitor.model) to an "
                "independent judge: otherwise the policy would grade its own drift"
            )
    if monitor.enabled and judge.mode in _RUBRIC_FREE:
        problems.append(
            f"monitor: the job's judge is already rubric-free ({judge.mode.value}); the monitor "
            "compares a rubric reward with a rubric-free score, so use explicit or implicit"
        )
    if problems:
        raise ValueError("; ".join(problems))
    return cfg


def monitor_endpoint(cfg: JobConfig) -> EndpointConfig:
    """The rubric-free judge's endpoint: the monitor's own, else the job judge's."""
    base = cfg.judge.endpoint()
    monitor = cfg.monitor
    key_env = monitor.api_key_env if monitor.api_key_env is not None else base.api_key_env
    return EndpointConfig(
        **{
            **base.model_dump(),
            "base_url": monitor.base_url or base.base_url,
            "model": monitor.model or base.model,
            "api_key_env": key_env,
        }
    )


def reward_weights(cfg: JobConfig) -> list[float] | None:
    """GRPOConfig.reward_weights: the rubric reward's, then each verifiable reward's;
    None when the rubric reward is alone (TRL's default weight 1)."""
    if not cfg.verifiable_rewards:
        return None
    return [cfg.rubric_weight, *(v.weight for v in cfg.verifiable_rewards)]
