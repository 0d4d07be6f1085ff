"""Data: import prompts and rubrics from a file (experts, admins), freeze approved
rubrics into hashed export snapshots (researchers, admins), and download any
snapshot's files (everyone). The same services as `rubricforge import / export`."""

from __future__ import annotations

import streamlit as st
from rubricforge.models.accounts.permissions import Action, can
from rubricforge.models.data.exporter import list_snapshots
from rubricforge.models.rubrics.browse import dataset_names, tag_names
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.data import (
    SNAPSHOT_KEY,
    downloads,
    import_form,
    show_import_outcome,
    snapshot_form,
    snapshots_frame,
)
from rubricforge.webapp.components.pairs import pairs_panel
from rubricforge.webapp.components.text import show_flash
from rubricforge.webapp.db import read_session

st.title("Data")
user = page_user()
show_flash()
may_import, may_export = can(user, Action.import_data), can(user, Action.export)
with read_session() as session:
    datasets = dataset_names(session)
    tags = tag_names(session) if may_export else []
    snapshots = list_snapshots(session)

# The open tab is session state, so a rerun (after an import, a new snapshot, or the
# flash coming and going) keeps it; a role that may not import starts on the snapshots.
import_tab, export_tab = st.tabs(
    ["Import", "Export snapshots"],
    default="Import" if may_import else "Export snapshots",
    key="data:tab",
    on_change="rerun",
)
with import_tab:
    if may_import:
        import_form(user, datasets)
        show_import_outcome()
    else:
        st.info(
            f"Importing needs the expert or admin role (yours: {user.role.value}); "
            "snapshots are under “Export snapshots”."
        )
with export_tab:
    if may_export:
        with st.expander("New snapshot", expanded=not snapshots, icon=":material/add:"):
            snapshot_form(user, datasets, tags)
    if not snapshots:
        st.info(
            "No export snapshots yet."
            + (" Freeze approved rubrics under “New snapshot”." if may_export else "")
        )
        st.stop()
    st.dataframe(snapshots_frame(snapshots), hide_index=True)
    by_id = {s.id: s for s in snapshots}
    chosen = st.session_state.get(SNAPSHOT_KEY)
    snapshot_id = st.selectbox(
        "Snapshot",
        list(by_id),
        index=list(by_id).index(chosen) if chosen in by_id else 0,
        format_func=lambda i: f"#{i} {by_id[i].name} · {by_id[i].row_count} rubrics",
    )
    st.session_state[SNAPSHOT_KEY] = snapshot_id
    downloads(by_id[snapshot_id])
    pairs_panel(user, by_id[snapshot_id])
