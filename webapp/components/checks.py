"""Two checks of a rubric against the judge, offered where the expert works.

- Rubric check (editor): does the judge, with this rubric, score the reference answer
  above degraded copies of it (RaR's judge-alignment test)? And does it reward the
  reward-hacking probes built from the rubric (claims, hedging, keywords, a negation)?
- Verdict flips (History): which stored verdicts, and rewards, would an edit change?

Both spend LLM calls, so they run only when asked, with an endpoint the admin set.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.judging.flips import base_runs, plan_rejudge, rejudge_changed
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.rubric_check import (
    PROBE_THRESHOLD,
    CheckReport,
    PromptCheck,
    check_rubrics,
)
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.llm.endpoints import endpoint_choices, resolve_endpoint
from rubricforge.webapp.components.text import show_error
from rubricforge.webapp.db import engine, read_session


def _choose_endpoint(key: str) -> EndpointConfig | None:
    with read_session() as session:
        choices = endpoint_choices(session)
    if not choices:
        st.caption("No LLM endpoint is configured: an admin adds one on the Admin page.")
        return None
    choice = st.selectbox("Judge endpoint", choices, key=key)
    with read_session() as session:
        return resolve_endpoint(session, choice)


def check_frame(report: CheckReport) -> pd.DataFrame:
    """One row per answer judged: the reference first, then each degraded copy."""
    rows = []
    for p in report.prompts:
        rows.append({"Answer": "reference", "Reward": p.reference_reward, "Below reference": ""})
        for kind, reward in sorted(p.variant_rewards.items()):
            below = (
                None
                if reward is None or p.reference_reward is None
                else (reward < p.reference_reward)
            )
            mark = "" if below is None else ("yes" if below else "NO")
            rows.append({"Answer": kind.split(":", 1)[-1].replace("_", " "), "Reward": reward,
                         "Below reference": mark})  # fmt: skip
    return pd.DataFrame(rows)


PROBE_NAMES = {
    "claims": "criteria restated as claims",
    "hedged": "hedged: X or not X",
    "keywords": "bare keyword list",
    "negated": "reference with its key fact negated",
}


def probes_frame(check: PromptCheck) -> pd.DataFrame:
    """One row per reward-hacking probe: its reward, whether the judge rewards it, its text."""
    rewarded = set(check.rewarded_probes())
    return pd.DataFrame(
        [
            {
                "Probe": PROBE_NAMES.get(kind, kind),
                "Reward": reward,
                "Rewarded": "" if reward is None else ("YES" if kind in rewarded else "no"),
                "Text": check.probe_texts.get(kind, ""),
            }
            for kind, reward in sorted(check.probe_rewards.items())
        ],
        columns=["Probe", "Reward", "Rewarded", "Text"],
    )


def show_probes(check: PromptCheck) -> None:
    if not check.probe_rewards:
        return
    st.markdown("**Reward-hacking probes**")
    rewarded = check.rewarded_probes()
    if rewarded:
        names = ", ".join(PROBE_NAMES.get(k, k) for k in rewarded)
        st.warning(
            f"The judge rewards {len(rewarded)} hacking probe(s): {names}. A policy trained "
            "on this rubric can learn to write them: make the criteria ask for the content "
            "itself (a specific fact, dose or conclusion), not for mentioning it."
        )
    else:
        st.success("The judge rewards none of the hacking probes.")
    st.caption(
        "Answers built from the rubric that say nothing right. A probe is rewarded when "
        f"it scores at or above the reference, or above {PROBE_THRESHOLD:g}."
    )
    st.dataframe(probes_frame(check), hide_index=True)


def rubric_check_panel(user: UserInfo, dataset: str, prompt_id: int) -> None:
    """Editor: judge the reference and degraded copies with the current rubric."""
    if not can(user, Action.run_judge):
        return
    with st.expander("Rubric check: does this rubric rank the reference above worse answers?"):
        st.caption(
            "Judges the reference answer and degraded copies of it (its first half; with "
            "LLM variants also one with the key fact removed and one with a mistake inserted) "
            "against the saved rubric. A good rubric scores the reference strictly higher. "
            "It also judges four reward-hacking probes built from the rubric and reports "
            "the ones the judge rewards."
        )
        endpoint = _choose_endpoint(f"check_endpoint_{prompt_id}")
        if endpoint is None:
            return
        variants = st.checkbox("Also ask this endpoint to write the two LLM variants",
                               key=f"check_variants_{prompt_id}")  # fmt: skip
        if not st.button("Run the rubric check", key=f"check_run_{prompt_id}"):
            return
        try:
            with st.spinner("Judging the reference and its degraded copies..."):
                report = check_rubrics(
                    engine(), dataset, JudgeConfig(endpoint), prompt_ids=[prompt_id],
                    variant_endpoint=endpoint if variants else None, actor=user,
                )  # fmt: skip
        except RubricforgeError as exc:
            show_error(exc)
            return
        verdict = report.prompts[0].passed if report.prompts else None
        if verdict is True:
            st.success("The rubric scores the reference above every degraded copy.")
        elif verdict is False:
            st.warning("The rubric scores a degraded copy at or above the reference: "
                       "tighten the criteria that copy still meets.")  # fmt: skip
        else:
            st.warning("A judgment failed, so the check is undecided; see Judge runs.")
        st.dataframe(check_frame(report), hide_index=True)
        if report.prompts:
            show_probes(report.prompts[0])


def flips_panel(user: UserInfo, old_version_id: int, new_version_id: int) -> None:
    """History: re-judge only the changed criteria on responses judged under the old
    version, and show how many verdicts and rewards flip."""
    if not can(user, Action.run_judge) or old_version_id == new_version_id:
        return
    with st.expander("Verdict flips: which stored verdicts would this edit change?"):
        runs = base_runs(engine(), old_version_id)
        if not runs:
            st.caption("No explicit judge run has judged responses with the older version yet.")
            return
        key = f"{old_version_id}_{new_version_id}"
        by_id = {r.run_id: r for r in runs}
        run_id = st.selectbox(
            "Compare with the verdicts of",
            list(by_id),
            format_func=lambda i: by_id[i].label(),
            key=f"flip_run_{key}",
        )
        endpoint = _choose_endpoint(f"flip_endpoint_{key}")
        if endpoint is None:
            return
        config = JudgeConfig(endpoint)
        try:
            plan = plan_rejudge(engine(), run_id, old_version_id, new_version_id, config)
        except RubricforgeError as exc:
            show_error(exc)
            return
        st.caption(f"Re-judging costs {plan.summary()}.")
        if not plan.criteria_to_judge:
            st.info("No criterion's text changed, so no verdict can flip (weights only).")
            return
        if not st.button("Re-judge the changed criteria", key=f"flip_go_{key}"):
            return
        try:
            with st.spinner("Re-judging the changed criteria..."):
                report = rejudge_changed(engine(), plan, config, actor=user)
        except RubricforgeError as exc:
            show_error(exc)
            return
        st.success(
            f"Judge run {report.run_id}: {report.reward_flips} of {report.responses} rewards "
            f"changed (mean change {report.mean_reward_delta:+.3f}); {report.failed} failed."
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {"Criterion": c.title, "Judged": c.judged, "Verdicts flipped": c.flipped}
                    for c in report.criteria
                ]  # fmt: skip
            ),
            hide_index=True,
        )
