"""Flag for revision (dashboard) and the open requests (editor): the closed loop
from a criterion judge and humans disagree on back to its expert."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.permissions import UserInfo
from rubricforge.models.agreement.revision import RevisionRequestInfo, flag_for_revision
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.webapp.components.agreement import number
from rubricforge.webapp.components.labeling import verdict_word
from rubricforge.webapp.components.text import escape_md, flash, show_error
from rubricforge.webapp.db import write_session


def flag_panel(user: UserInfo, criteria: Mapping[int, str]) -> None:
    """Pick a criterion (id -> label), say why, and send it back to its expert."""
    if not criteria:
        st.caption("No criterion to flag under these filters.")
        return
    criterion_id = st.selectbox(
        "Criterion to revise", list(criteria), format_func=lambda i: criteria[i]
    )
    reason = st.text_input("Why it needs revising", key="flag:reason")
    if not st.button("Flag for revision", icon=":material/flag:"):
        return
    try:
        with write_session() as session:
            req = flag_for_revision(session, user, criterion_id, reason)
    except RubricforgeError as exc:
        show_error(exc)
        return
    disagreeing = req.evidence.get("summary", {}).get("disagreeing_items", 0)
    flash(
        f"Flagged “{req.criterion_title}”: rubric {req.rubric_id} is back in draft with "
        f"revision request {req.id} ({disagreeing} disagreeing items attached)."
    )
    st.rerun()


def evidence_frame(req: RevisionRequestInfo) -> pd.DataFrame:
    rows = [
        {
            "Response": item.get("response_id"),
            "Humans": "; ".join(
                f"{lab['annotator']}: {verdict_word(lab['met'])}" for lab in item.get("labels", [])
            ),
            "Judges": "; ".join(
                f"{v['judge_model']}: {verdict_word(v['met'])}" for v in item.get("verdicts", [])
            ),
            "Rationale": " | ".join(v.get("rationale", "") for v in item.get("verdicts", [])),
            "Response excerpt": item.get("response_excerpt", ""),
        }
        for item in req.evidence.get("items", [])
    ]
    return pd.DataFrame(
        rows, columns=["Response", "Humans", "Judges", "Rationale", "Response excerpt"]
    )


def show_requests(requests: Sequence[RevisionRequestInfo]) -> None:
    """Open requests with the disagreements they carry (for the rubric's expert)."""
    if not requests:
        return
    with st.expander(f"Open revision requests ({len(requests)})", icon=":material/flag:"):
        st.caption(
            "Saving a version that changes or removes the flagged criterion resolves its request."
        )
        for req in requests:
            summary = req.evidence.get("summary", {})
            st.markdown(
                escape_md(
                    f"Request {req.id} on “{req.criterion_title or '(criterion gone)'}” "
                    f"by {req.created_by or 'the CLI'}: {req.reason}"
                )
            )
            st.caption(
                f"{summary.get('disagreeing_items', 0)} disagreeing of "
                f"{summary.get('labelled_items', 0)} labelled items · accuracy "
                f"{number(summary.get('accuracy'), 2)} · kappa {number(summary.get('kappa'), 2)}"
            )
            st.dataframe(evidence_frame(req), hide_index=True)
