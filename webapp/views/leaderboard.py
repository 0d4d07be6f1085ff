"""Judge leaderboard: every judge model x mode on the team's own labels, ranked by
agreement with the humans, with tokens and cost, and the cheapest judge that agrees
with the best (`models.agreement.leaderboard`)."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.agreement.filter_choices import filter_choices
from rubricforge.models.agreement.leaderboard import RankBy, leaderboard_data, rankings_with_data
from rubricforge.models.agreement.queries import AgreementFilters
from rubricforge.models.agreement.self_preference import by_judge, self_preference
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.agreement import (
    interval,
    leaderboard_figure,
    leaderboard_frame,
    show_table,
)
from rubricforge.webapp.components.self_preference import show_self_preference
from rubricforge.webapp.components.text import escape_md
from rubricforge.webapp.db import read_session

RANKINGS = {
    RankBy.response_kappa: "Response kappa (every mode)",
    RankBy.response_spearman: "Spearman rho (every mode)",
    RankBy.criterion_kappa: "Criterion kappa (explicit judges)",
}

RANK_KEY = "leaderboard:rank_by"

st.title("Judge leaderboard")
page_user()
with read_session() as session:
    choices = filter_choices(session)
c1, c2, c3 = st.columns([2, 2, 1])
datasets = c2.multiselect(
    "Datasets", list(choices.datasets), format_func=lambda i: choices.datasets[i]
)
order = c3.radio("Order", ["agreement", "cost"], horizontal=True)
same_items = st.checkbox(
    "Only items every judge judged",
    value=True,
    help="So no judge is ranked on easier items than another.",
)
filters = AgreementFilters(dataset_ids=tuple(datasets))
with read_session() as session:
    data = leaderboard_data(session, filters)  # read once: every ranking and self-preference
    preferences = self_preference(session, filters=filters, pairs=data.pairs)
if RANK_KEY not in st.session_state:
    # Open on a ranking that has data (on a fresh workspace, often criterion kappa only).
    with_data = rankings_with_data(data.rank(same_items=same_items))
    st.session_state[RANK_KEY] = with_data[0] if with_data else RankBy.response_kappa
rank_by = c1.selectbox("Rank by", list(RANKINGS), key=RANK_KEY, format_func=RANKINGS.__getitem__)
board = data.rank(rank_by, same_items=same_items)
if not board.rows:
    st.info("No judge runs yet: start one on the Judge runs page, then label its verdicts.")
    st.stop()

st.caption(
    f"{board.n_items} labelled criterion items and {board.n_responses} scored responses "
    "behind the figures. A judge agrees with the best when its interval reaches the best "
    "judge's lower bound."
)
best = board.rows[0]
if best.figure(rank_by).defined:
    st.markdown(escape_md(f"Best: {best.judge} · {interval(best.figure(rank_by))}"))
if board.cheapest_agreeing is not None:
    cheap = board.cheapest_agreeing
    tpj = cheap.tokens_per_judgment
    per_1k = f"${cheap.cost_per_1k:.4f} per 1,000 judgments" if cheap.cost_per_1k else ""
    tokens = f"{tpj:.0f} tokens per judgment" if tpj is not None else "no cost recorded"
    st.success(
        escape_md(
            f"Cheapest judge that agrees with the best: {cheap.judge} ({per_1k or tokens})"
        ),  # fmt: skip
        icon=":material/savings:",
    )
else:
    st.caption("No judge has a defined figure yet: label more items of the judged responses.")
summaries = {key: row.summary() for key, row in by_judge(preferences).items()}
show_table(leaderboard_frame(board, by_cost=order == "cost", self_preference=summaries))
st.plotly_chart(leaderboard_figure(board), key="chart:leaderboard")
show_self_preference(preferences)
