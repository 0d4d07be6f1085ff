"""Overview: what each dataset holds and where its rubrics stand in the workflow."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from rubricforge.models.rubrics.browse import dataset_overview
from rubricforge.models.rubrics.orm import RubricStatus
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.db import read_session

STATUS_LABELS = {
    RubricStatus.draft.value: "Draft",
    RubricStatus.in_review.value: "In review",
    RubricStatus.approved.value: "Approved",
    RubricStatus.rejected.value: "Rejected",
    RubricStatus.retired.value: "Retired",
}

st.title("Overview")
page_user()
with read_session() as session:
    rows = dataset_overview(session)

if not rows:
    st.info(
        "No datasets yet. Load the demo with `rubricforge demo`, or import prompts on the "
        "Data page (experts and admins) or with `rubricforge import FILE --dataset NAME`."
    )
    st.stop()

cols = st.columns(4)
cols[0].metric("Prompts", sum(r.prompts for r in rows))
cols[1].metric("Approved rubrics", sum(r.by_status[RubricStatus.approved.value] for r in rows))
cols[2].metric("Criteria", sum(r.criteria for r in rows))
cols[3].metric(
    "Flagged criteria",
    sum(r.flagged for r in rows),
    help="Criteria whose wording and sign may disagree (pitfall polarity lint).",
)

table = pd.DataFrame(
    [
        {
            "Dataset": r.dataset,
            "Prompts": r.prompts,
            "No rubric": r.without_rubric,
            **{label: r.by_status[status] for status, label in STATUS_LABELS.items()},
            "Criteria": r.criteria,
            "Flagged": r.flagged,
        }
        for r in rows
    ]
)
st.subheader("Datasets")
st.dataframe(table, hide_index=True)

st.subheader("Rubrics per status")
counts = table.melt(
    id_vars="Dataset",
    value_vars=list(STATUS_LABELS.values()),
    var_name="Status",
    value_name="Rubrics",
)
chart = px.bar(
    counts,
    x="Status",
    y="Rubrics",
    color="Dataset",
    barmode="stack",
    category_orders={"Status": list(STATUS_LABELS.values())},
)
chart.update_layout(height=320, margin={"t": 10, "b": 10}, yaxis={"tickformat": ",d"})
st.plotly_chart(chart)
