"""The Training page's pieces: the jobs table, the curves, provenance, sample
completions with their verdicts, and the reward preview. Chart data comes from
pure functions (`curve_frame`, `preview_frame`) so tests can check it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import yaml
from plotly.subplots import make_subplots
from rubricforge.models.training.config import JobConfigError
from rubricforge.models.training.gate import GatePolicy
from rubricforge.models.training.jobs import JobInfo
from rubricforge.models.training.preview import RewardPreview
from rubricforge.models.training.thresholds import Thresholds
from rubricforge.webapp.components.text import escape_md

TIME = "%Y-%m-%d %H:%M:%S"
# Metric keys as the trainer writes them (TRL's own, then the judge's), and their panels.
CURVES: dict[str, list[tuple[str, str]]] = {
    "Reward": [("reward", "reward mean")],
    "KL": [("kl", "KL")],
    "Completion length": [("completions/mean_length", "completion tokens")],
    "Judge failures": [
        ("judge/failures", "judge failures"),
        ("judge/failures_total", "judge failures, total"),
    ],
    "Rubric rates": [
        ("rubric/essential_met_rate", "essential met"),
        ("rubric/important_met_rate", "important met"),
        ("rubric/optional_met_rate", "optional met"),
        ("rubric/pitfall_hit_rate", "pitfall hit"),
    ],
    "Zero-spread groups": [("frac_reward_zero_std", "zero-spread share")],
    "Seconds per step": [("step_time", "step seconds"), ("judge/wall_s", "judge seconds")],
}
COLUMNS = 4
KEYS = ["reward_std"] + [key for lines in CURVES.values() for key, _ in lines]


def parse_config_text(text: str) -> dict[str, Any]:
    """The form's YAML (or JSON, which YAML reads too) as a mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JobConfigError([("config", f"not valid YAML or JSON: {exc}")]) from None
    except RecursionError:  # e.g. 100,000 nested brackets
        raise JobConfigError([("config", "nested too deeply to be a job config")]) from None
    if not isinstance(data, dict):
        raise JobConfigError([("config", "must be a mapping of settings (key: value lines)")])
    return data


def gate_inputs(snapshot_id: int, bar: Thresholds) -> GatePolicy:
    """The gate's bar for this submission: the admins' unless the researcher changes it;
    a lower value is flagged as an override that needs a reason."""
    st.info(
        f"Agreement gate set by the admins ({bar.source}): Cohen's kappa ≥ {bar.min_kappa:g} "
        f"over ≥ {bar.min_labels} labelled items.",
        icon=":material/policy:",
    )
    c1, c2 = st.columns(2)
    kappa = c1.number_input(
        "Minimum kappa", -1.0, 1.0, float(bar.min_kappa), 0.05, key=f"training:kappa:{snapshot_id}"
    )
    labels = c2.number_input(
        "Minimum labelled items", 1, 100_000, int(bar.min_labels),
        key=f"training:labels:{snapshot_id}",
    )  # fmt: skip
    # The inputs' bounds are the policy's, so building it cannot fail.
    policy = GatePolicy(min_kappa=float(kappa), min_labels=int(labels))
    if bar.lowered_by(policy):
        st.warning(
            "Lower than the admins' bar: submitting is an **override** and needs an override "
            "reason, recorded with the job and in the audit log.",
            icon=":material/gavel:",
        )
    return policy


def _when(at: datetime | None) -> str:
    return at.strftime(TIME) if at else ""


def jobs_frame(jobs: Sequence[JobInfo]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Job": j.id,
                "Status": j.status.value + (" (cancelling)" if j.cancel_requested else ""),
                "Step": f"{j.last_step or 0}/{j.max_steps}",
                "Attempts": f"{j.attempts}/{j.max_attempts}",
                "Worker": j.worker_id or "",
                "Snapshot": j.snapshot_name,
                "Base model": j.base_model,
                "Created": _when(j.created_at),
                "Started": _when(j.started_at),
                "Finished": _when(j.finished_at),
                "Error": (j.error or "").split("\n", 1)[0],
            }
            for j in jobs
        ]
    )


def curve_frame(metrics: Sequence[tuple[int, dict[str, float]]]) -> pd.DataFrame:
    """One row per logged step, one column per curve metric (NaN where not logged)."""
    frame = pd.DataFrame([{"step": step, **values} for step, values in metrics])
    return frame.reindex(columns=["step", *KEYS]).set_index("step")


def curves_figure(frame: pd.DataFrame) -> go.Figure:
    """Reward mean with a +-std band, and one panel per other curve."""
    rows = -(-len(CURVES) // COLUMNS)
    fig = make_subplots(
        rows=rows, cols=COLUMNS, subplot_titles=list(CURVES), horizontal_spacing=0.05
    )
    steps = frame.index.to_list()
    for n, (title, lines) in enumerate(CURVES.items()):
        row, col = divmod(n, COLUMNS)
        if title == "Reward":
            upper = (frame.reward + frame.reward_std).to_list()
            lower = (frame.reward - frame.reward_std).to_list()
            fig.add_trace(
                go.Scatter(
                    x=steps + steps[::-1],
                    y=upper + lower[::-1],
                    fill="toself",
                    line={"width": 0},
                    opacity=0.25,
                    name="reward ± std",
                ),
                row=row + 1,
                col=col + 1,
            )
        for key, label in lines:
            fig.add_trace(
                go.Scatter(x=steps, y=frame[key].to_list(), mode="lines+markers", name=label),
                row=row + 1,
                col=col + 1,
            )
    fig.update_layout(height=520, margin={"t": 40, "b": 20, "l": 20, "r": 20})
    fig.update_xaxes(title_text="step", row=rows)
    return fig


def reward_line(judge: dict[str, Any]) -> str:
    """The job's reward preset and the weights it scores with, in words."""
    preset = judge.get("preset")
    if preset is None:  # submitted before presets
        return (
            f"Reward: {judge.get('mode')} judging, {judge.get('aggregation')} (no preset recorded)"
        )
    weights = judge.get("weights") or {}
    line = f"Reward preset {preset}: {judge.get('summary', '')}. Weights: {weights.get('source')}"
    if weights.get("map"):
        line += " (" + ", ".join(f"{c} {w:g}" for c, w in weights["map"].items()) + ")"
    return line + "."


def show_provenance(job: JobInfo) -> None:
    prov = job.provenance
    snap, judge = prov.get("snapshot", {}), prov.get("judge", {})
    st.markdown(
        f"**Snapshot** {escape_md(str(snap.get('name')))} · sha256 `{snap.get('sha256', '')}`  \n"
        f"**Judge** {escape_md(str(judge.get('model')))} ({judge.get('mode')}, "
        f"{judge.get('aggregation')}) · template `{judge.get('template_hash', '')}`"
    )
    st.caption(reward_line(judge))
    agreement = prov.get("agreement")
    if agreement is None:
        st.caption("Submitted before the agreement gate: no agreement report recorded.")
        return
    kappa = agreement.get("kappa")
    shown = "undefined" if kappa is None else f"{kappa:.2f}"
    if kappa is not None and agreement.get("kappa_low") is not None:
        shown += f" (95% CI {agreement['kappa_low']:.2f} to {agreement['kappa_high']:.2f})"
    line = (
        f"Agreement gate: Cohen's kappa {shown} over {agreement['n_items']} labelled item(s); "
        f"required kappa ≥ {agreement['min_kappa']:g} over ≥ {agreement['min_labels']}"
    )
    override = agreement.get("override")
    if override:
        st.warning(
            f"{line}. **Overridden** by {escape_md(str(override['by']))}: "
            f"{escape_md(override['reason'])}",
            icon=":material/gavel:",
        )
    else:
        st.success(f"{line}. Passed.", icon=":material/verified:")
    for warning in agreement.get("warnings", []):
        st.warning(f"Judge and policy: {warning}.", icon=":material/warning:")


def show_samples(step: int | None, samples: Sequence[dict[str, Any]]) -> None:
    if step is None:
        st.caption("No completions logged yet.")
        return
    st.caption(f"From step {step}.")
    for n, sample in enumerate(samples, start=1):
        state = f"reward {sample['reward']:.3f}" if sample.get("ok") else "judge failed (fallback)"
        with st.expander(f"Completion {n}: {state}"):
            st.markdown("**Prompt**")
            st.text(sample["prompt"])
            st.markdown("**Completion**")
            st.text(sample["completion"])
            if sample.get("rating") is not None:
                st.caption(f"Judge rating {sample['rating']:g} / 10")
            if sample.get("error"):
                st.caption(escape_md(f"Judge error: {sample['error']}"))
            verdicts = sample.get("verdicts") or []
            if verdicts:
                st.dataframe(
                    pd.DataFrame(verdicts).rename(columns=str.capitalize),
                    hide_index=True,
                    column_config={"Rationale": st.column_config.TextColumn(width="large")},
                )


@dataclass(frozen=True)
class PreviewInputs:
    url: str
    model: str
    key_env: str
    prompts: int
    k: int | None  # None: the job's generations per prompt
    seed: int


def preview_inputs() -> PreviewInputs:
    st.subheader("Reward preview", anchor=False)
    st.caption(
        "Sample K completions per prompt from a server with the base model (e.g. vLLM) "
        "and score them with this config's reward, before spending GPU hours."
    )
    c1, c2, c3 = st.columns(3)
    url = c1.text_input("Policy endpoint URL", "http://localhost:8000/v1")
    model = c2.text_input("Policy model", help="Default: the config's base model")
    key_env = c3.text_input("Policy key variable", "none", help="'none' for no key")
    c1, c2, c3 = st.columns(3)
    prompts = c1.number_input("Prompts", 1, 2000, 20)
    k = c2.number_input(
        "Completions per prompt (K)",
        2,
        128,
        value=None,
        placeholder="the job's generations",
        help="Empty: the config's num_generations, the group size GRPO will see.",
    )
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0)
    return PreviewInputs(
        url, model, key_env, int(prompts), None if k is None else int(k), int(seed)
    )


def preview_frame(preview: RewardPreview) -> pd.DataFrame:
    """The preview's rubrics, worst first, with a link into the editor."""
    return pd.DataFrame(
        [
            {
                "Prompt": g.uid,
                "Dataset": g.dataset,
                "Zero spread": g.zero_spread,
                "Std": round(g.std, 4),
                "Mean": round(g.mean, 4),
                "Rewards": " ".join(f"{r:.2f}" for r in g.rewards),
                "Judge failures": g.judge_failures,
                "Question": g.question,
                "Editor": f"editor?prompt={g.prompt_id}",
            }
            for g in preview.groups
        ]
    )


def show_preview(preview: RewardPreview) -> None:
    rewards = preview.rewards
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Zero-spread groups",
        f"{preview.zero_spread_share:.0%}",
        help="Prompts whose K rewards are all equal: GRPO gets no gradient from them.",
    )
    c2.metric("Mean reward", f"{sum(rewards) / len(rewards):.3f}")
    c3.metric("Judge failures", preview.judge_failures, help="Scored with the fallback reward.")
    st.caption(
        f"Reward preset {preview.preset or 'of the config'}, K = {preview.k} completions per "
        "prompt."
    )
    rates = preview.category_rates
    if rates:
        st.caption(
            "Per category"
            + (f" (from {preview.rated_completions} completions judged criterion by criterion)"
               if preview.rated_completions else "")
            + ": "
            + ", ".join(f"{name.removeprefix('rubric/').replace('_', ' ')} {value:.0%}"
                        for name, value in rates.items())
        )  # fmt: skip
    hist = preview.histogram()
    st.plotly_chart(
        go.Figure(
            go.Bar(x=[f"{lo:.1f}–{hi:.1f}" for lo, hi, _ in hist], y=[n for _, _, n in hist]),
            layout={"height": 260, "margin": {"t": 30, "b": 20}, "title": "Reward distribution"},
        )
    )
    st.markdown("**Rubrics, worst first** (open one in the editor to give its criteria spread)")
    st.dataframe(
        preview_frame(preview),
        hide_index=True,
        column_config={"Editor": st.column_config.LinkColumn(display_text="open")},
    )
    for g in [g for g in preview.groups if g.zero_spread][:5]:
        st.page_link(
            "views/editor.py",
            label=f"Edit {g.uid}: all {preview.k} rewards {g.rewards[0]:.2f}",
            icon=":material/edit_note:",
            query_params={"prompt": str(g.prompt_id)},
        )
