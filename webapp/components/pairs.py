"""Data page: preference pairs (TRL's DPO format) from a snapshot's rubric-scored
responses, and the ranked list per prompt (`models.judging.preference_pairs`)."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, UserInfo, can
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.data.exporter import SnapshotRecord
from rubricforge.models.data.pair_formats import pairs_jsonl, ranked_jsonl
from rubricforge.models.judging.preference_pairs import scoring_runs, snapshot_pairs
from rubricforge.webapp.components.text import show_error
from rubricforge.webapp.db import engine, read_session

PAIRS_KEY = "data:pairs"
NEWEST = 0


def pairs_panel(user: UserInfo, snapshot: SnapshotRecord) -> None:
    """Researchers and admins (Action.export) build and download the pairs."""
    if not can(user, Action.export):
        return
    st.subheader("Preference pairs (DPO)", anchor=False)
    with read_session() as session:
        runs = {r.run_id: r.label() for r in scoring_runs(session, snapshot.id)}
    if not runs:
        st.caption(
            "No response to this snapshot's prompts has a rubric score yet: judge responses "
            "with an explicit or implicit judge (Judge runs page) to pair them."
        )
        return
    c1, c2 = st.columns(2)
    run_id = c1.selectbox(
        "Scores",
        [NEWEST, *runs],
        format_func=lambda i: runs.get(i, "the newest score of each response"),
        key=f"pairs_run_{snapshot.id}",
    )
    margin = c2.number_input(
        "Minimum margin",
        min_value=0.0,
        max_value=1.0,
        value=0.0,
        step=0.05,
        help="Skip pairs whose rewards differ by less; equal rewards never make a pair.",
        key=f"pairs_margin_{snapshot.id}",
    )
    wanted = (snapshot.id, run_id, float(margin))
    if st.button("Build preference pairs", icon=":material/compare_arrows:"):
        try:
            pair_set = snapshot_pairs(
                engine(), snapshot.id, min_margin=float(margin), run_id=run_id or None, actor=user
            )
        except RubricforgeError as exc:
            show_error(exc)
            return
        st.session_state[PAIRS_KEY] = (wanted, pair_set.summary(), pairs_jsonl(pair_set),
                                       ranked_jsonl(pair_set))  # fmt: skip
    built = st.session_state.get(PAIRS_KEY)
    if built is None or built[0] != wanted:
        return
    _, summary, pairs, ranked = built
    st.caption(summary + ". Rows: prompt, chosen, rejected (TRL's conversational "
               "preference format), margin, both rewards, uid.")  # fmt: skip
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download DPO pairs (JSONL)",
        pairs,
        file_name=f"snapshot-{snapshot.id}-dpo_pairs.jsonl",
        mime="application/x-ndjson",
        on_click="ignore",
        icon=":material/download:",
    )
    c2.download_button(
        "Download ranked list (JSONL)",
        ranked,
        file_name=f"snapshot-{snapshot.id}-ranked.jsonl",
        mime="application/x-ndjson",
        on_click="ignore",
        icon=":material/download:",
    )
