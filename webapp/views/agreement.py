"""Agreement: how well the judges agree with the annotators, overall and per category,
criterion, judge and annotator, with bootstrap intervals; the confusion matrix; the
disagreeing items; and "Flag for revision" to send a criterion back to its expert.

The figures come in parts (`models.agreement.figures`): the headline on every
visit, the breakdowns and the whole-response figures only where a tab shows them.
Annotators see the drill-down of their own items only (the service decides), so
the dashboard never shows them a verdict on an item they have yet to label.
"""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import Action, can
from rubricforge.models.agreement.figures import (
    agreement_breakdowns,
    agreement_headline,
    agreement_responses,
)
from rubricforge.models.agreement.filter_choices import filter_choices
from rubricforge.models.agreement.queries import (
    MIN_LABELS,
    AgreementFilters,
    criterion_pairs,
    disagreements,
)
from rubricforge.models.agreement.report import Breakdowns
from rubricforge.models.agreement.self_preference import self_preference
from rubricforge.models.agreement.spotcheck import list_queues
from rubricforge.models.rubrics.orm import Category
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.agreement import (
    breakdown_figure,
    breakdown_frame,
    confusion_figure,
    disagreement_frame,
    interval,
    labels_needed_figure,
    labels_needed_frame,
    number,
    responses_frame,
    show_headline,
    show_table,
)
from rubricforge.webapp.components.revision import flag_panel
from rubricforge.webapp.components.self_preference import show_self_preference
from rubricforge.webapp.components.text import show_flash
from rubricforge.webapp.db import read_session

PAGE_SIZE = 25

st.title("Agreement")
user = page_user()
show_flash()
with read_session() as session:
    choices = filter_choices(session)
    queues = {q.id: q.name for q in list_queues(session)}

with st.expander("Filters", expanded=False, icon=":material/filter_list:"):
    c1, c2, c3 = st.columns(3)
    datasets = c1.multiselect(
        "Datasets", list(choices.datasets), format_func=lambda i: choices.datasets[i]
    )
    models = c2.multiselect("Judge models", choices.judge_models)
    categories = c3.multiselect("Categories", list(Category), format_func=lambda c: c.value)
    c4, c5, c6 = st.columns(3)
    annotators = c4.multiselect(
        "Annotators", list(choices.annotators), format_func=lambda i: choices.annotators[i]
    )
    queue_id = c5.selectbox(
        "Spot-check queue", [None, *queues], format_func=lambda i: queues[i] if i else "All"
    )
    min_labels = int(c6.number_input("Labels for a criterion's own row", 1, 1000, MIN_LABELS))
filters = AgreementFilters(
    dataset_ids=tuple(datasets),
    judge_models=tuple(models),
    categories=tuple(categories),
    annotator_ids=tuple(annotators),
    queue_id=queue_id,
)
with read_session() as session:
    pairs = criterion_pairs(session, filters)  # read once: every part and self-preference
    head = agreement_headline(session, pairs=pairs)


def breakdowns() -> Breakdowns:
    """The per-group figures, computed only where a tab shows them."""
    with read_session() as session:
        return agreement_breakdowns(session, min_labels=min_labels, pairs=pairs)


if head.n_labels == 0:
    st.info(
        "No labels under these filters yet. Annotators label judged items on the "
        "Spot-check page; the figures appear here as they do."
    )
    st.stop()

st.caption(
    f"{head.n_labels} labels on {head.n_items} items · {head.n_adjudicated} adjudicated · "
    f"{head.n_unresolved} tied and unresolved · humans among themselves: alpha "
    f"{number(head.alpha_humans.value)} ({interval(head.alpha_humans)})"
)
show_headline(head)

# Lazy tabs: only the open one runs (five charts and the self-preference table
# cost a rerun more than the rest of the page together).
# An annotator comes for their own disagreements with the judge: open on those.
by_tab, confusion_tab, drill_tab = st.tabs(
    ["Breakdowns", "Confusion and responses", "Disagreements"],
    default="Disagreements" if user.role is Role.annotator else None,
    key="agreement:tab",
    on_change="rerun",
)
if by_tab.open:
    with by_tab:
        # Accuracy first: within a category one class often dominates, leaving kappa undefined.
        metric = st.radio("Figure", ["Accuracy", "Kappa"], horizontal=True)
        report = breakdowns()
        for title, name, b in [
            ("Per category", "Category", report.by_category),
            ("Per judge", "Judge", report.by_judge),
            ("Per annotator", "Annotator", report.by_annotator),
            ("Per dataset", "Dataset", report.by_dataset),
            ("Per criterion (worst first)", "Criterion", report.by_criterion),
        ]:
            st.subheader(title, anchor=False)
            frame = breakdown_frame(b, name)
            if frame.empty:
                st.caption(f"No group with {min_labels}+ labels yet ({b.left_out} with fewer).")
                continue
            st.plotly_chart(breakdown_figure(frame, name, metric), key=f"chart:{name}")
            show_table(frame)
            if b.left_out:
                st.caption(f"{b.left_out} more with fewer than {min_labels} labels each.")
        with read_session() as session:
            show_self_preference(self_preference(session, filters=filters, pairs=pairs))

if confusion_tab.open:
    with confusion_tab:
        left, right = st.columns(2)
        with left:
            st.subheader("Confusion matrix", anchor=False)
            st.plotly_chart(confusion_figure(head.overall.confusion), key="chart:confusion")
        with right:
            st.subheader("Labels needed", anchor=False)
            needed = labels_needed_frame(head.overall.kappa)
            if head.overall.kappa.defined:
                st.plotly_chart(labels_needed_figure(needed), key="chart:needed")
            st.dataframe(needed, hide_index=True)
        st.subheader("Whole responses: judge reward vs human score", anchor=False)
        with read_session() as session:
            scored = agreement_responses(session, filters=filters)
        if scored.responses:
            show_table(responses_frame(scored))
        else:
            st.caption("No whole-response scores yet (a spot-check queue with unit “response”).")

if drill_tab.open:
    with drill_tab:
        page_no = int(st.session_state.setdefault("drill:page", 1))
        with read_session() as session:
            found = disagreements(
                session, user, filters=filters, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
            )
        pages = max(1, -(-found.total // PAGE_SIZE))
        if page_no > pages:  # the filters changed under a later page
            st.session_state["drill:page"] = page_no = pages
            with read_session() as session:
                found = disagreements(
                    session, user, filters=filters, limit=PAGE_SIZE, offset=(pages - 1) * PAGE_SIZE
                )
        st.number_input(f"Page (of {pages})", 1, pages, key="drill:page")
        st.caption(f"{found.total} items where a judge and the humans disagree")
        st.dataframe(disagreement_frame(found.items), hide_index=True)
        if can(user, Action.flag_revision):
            st.subheader("Flag for revision", anchor=False)
            flaggable = {
                g.criterion_id: f"{g.group} · accuracy {number(g.stats.accuracy.value, 2)} "
                f"(n={g.stats.n})"
                for g in breakdowns().by_criterion.groups
                if g.criterion_id is not None
            }
            for item in found.items:
                if item.criterion is not None and item.criterion.id not in flaggable:
                    flaggable[item.criterion.id] = f"{item.criterion.title} [{item.criterion.key}]"
            flag_panel(user, flaggable)
