"""The self-preference table (Leaderboard and Agreement pages): each explicit judge's
false-positive rate on its own family's responses vs other families'
(`models.agreement.self_preference`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import streamlit as st
from rubricforge.models.agreement.self_preference import SelfPreference

EXPLAINED = (
    "False-positive rate: of the items the humans found failed (an Essential, Important or "
    "Optional criterion not met, or a Pitfall committed), the share the judge passed. "
    "Own: responses written by a model of the judge's family; other: by any other known "
    "model. A ratio above 1 means the judge lets its own family's failures through more "
    "often. Brackets: 95% Wilson interval. Responses of unknown author take no part."
)


def _value(value: float) -> float | None:
    return None if math.isnan(value) else value


def self_preference_frame(rows: Sequence[SelfPreference]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Judge": r.judge,
                "Family": r.family or "unknown",
                "FP rate, own family": _value(r.own.value),
                "Own (95% CI, errors/failed)": r.own.text(),
                "FP rate, other families": _value(r.other.value),
                "Other (95% CI, errors/failed)": r.other.text(),
                "Ratio own / other": r.ratio,
                "Unknown author (left out)": r.unknown_author,
            }
            for r in rows
        ]
    )


def show_self_preference(rows: Sequence[SelfPreference]) -> None:
    st.subheader("Self-preference: own family vs other families", anchor=False)
    if not rows:
        st.caption("No explicit judge verdict on a labelled item yet.")
        return
    st.caption(EXPLAINED)
    frame = self_preference_frame(rows)
    floats = ["FP rate, own family", "FP rate, other families", "Ratio own / other"]
    config = {c: st.column_config.NumberColumn(format="%.2f") for c in floats}
    st.dataframe(frame, hide_index=True, column_config=config)
