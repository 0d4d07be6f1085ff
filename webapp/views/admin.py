"""Admin: accounts (add, disable or enable, reset a password), LLM endpoints
(add, edit, delete, test the connection) and the agreement gate's thresholds
(workspace-wide and per dataset). Admins only, here and in every service."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st
from rubricforge.models.accounts.auth import (
    add_user,
    disable_user,
    enable_user,
    list_users,
    set_password,
)
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import Action, UserInfo
from rubricforge.models.accounts.throttle import list_locks, unlock
from rubricforge.models.core.errors import RubricforgeError
from rubricforge.models.llm.endpoints import (
    EndpointRow,
    check_endpoint,
    delete_endpoint,
    list_endpoints,
    save_endpoint,
)
from rubricforge.models.rubrics.browse import dataset_names
from rubricforge.models.training.thresholds import (
    dataset_thresholds,
    list_thresholds,
    set_thresholds,
)
from rubricforge.webapp.auth import page_user
from rubricforge.webapp.components.text import escape_md, flash, show_error, show_flash
from rubricforge.webapp.db import read_session, write_session

NEW = "New endpoint"
WORKSPACE_SCOPE = "Workspace (every dataset without its own)"
KEY_HELP = (
    "The NAME of the environment variable that holds the key on the server, like "
    "OPENAI_API_KEY; never the key itself. Leave empty for an endpoint without a key."
)


def write(action: Callable[..., object], done: str, *args: object, **kw: object) -> None:
    """Run one service write for the signed-in admin; say what happened."""
    try:
        with write_session() as session:
            action(session, *args, **kw)
    except RubricforgeError as exc:
        show_error(exc)
        return
    flash(done)
    st.rerun()


def locks_section(admin: UserInfo) -> None:
    """Accounts and addresses locked by failed sign-ins; an account's lock can be cleared."""
    with read_session() as session:
        locks = list_locks(session)
    if not locks:
        return
    st.markdown("**Locked sign-ins** (too many failed attempts)")
    table = [
        {"Locked": lock.kind, "Name or address": lock.key,
         "Until": lock.locked_until.strftime("%Y-%m-%d %H:%M UTC")}
        for lock in locks
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(table), hide_index=True)
    accounts = [lock.key for lock in locks if lock.kind == "account"]
    if accounts:
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        name = c1.selectbox("Locked account", accounts, key="admin:unlock")
        if c2.button("Unlock account"):
            write(unlock, f"Unlocked {name}: they can sign in again.", name, actor=admin)


def users_section(admin: UserInfo) -> None:
    with read_session() as session:
        users = list_users(session)
    table = [
        {"Username": u.username, "Name": u.display_name, "Role": u.role.value,
         "Active": u.is_active, "Created": u.created_at.strftime("%Y-%m-%d")}
        for u in users
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(table), hide_index=True)
    locks_section(admin)

    st.markdown("**Add a user**")
    with st.form("add_user", clear_on_submit=True):
        c1, c2, c3, c4 = st.columns(4)
        username = c1.text_input("Username", help="SSO users: their email address")
        name = c2.text_input("Display name")
        role = c3.selectbox("Role", [r.value for r in Role], index=1)
        password = c4.text_input("Initial password", type="password", autocomplete="new-password")
        if st.form_submit_button("Add user"):
            write(add_user, f"Added {username.strip().lower()} ({role}).", username, role,
                  password, actor=admin, display_name=name)  # fmt: skip

    if not users:
        return
    st.markdown("**Change a user**")
    by_name = {u.username: u for u in users}
    target = st.selectbox("User", list(by_name))
    chosen = by_name[target]
    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    if chosen.is_active:
        if c1.button("Disable account"):
            write(disable_user, f"Disabled {target}.", target, actor=admin)
    elif c1.button("Enable account"):
        write(enable_user, f"Enabled {target}.", target, actor=admin)
    new_password = c2.text_input("New password", type="password", autocomplete="new-password",
                                 key=f"admin:password:{target}")  # fmt: skip
    if c3.button("Reset password"):
        write(set_password, f"Set a new password for {target}.", target, new_password, actor=admin)


def endpoint_form(admin: UserInfo, current: EndpointRow | None) -> None:
    with st.form(f"endpoint:{current.id if current else 'new'}"):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", value=current.name if current else "")
        model = c2.text_input("Model", value=current.model if current else "")
        base_url = c1.text_input(
            "Base URL",
            value=current.base_url if current else "",
            placeholder="https://api.openai.com/v1 or http://localhost:8000/v1",
        )
        key_env = c2.text_input(
            "API key environment variable", value=(current.api_key_env or "") if current else "",
            help=KEY_HELP,
        )  # fmt: skip
        structured = st.checkbox(
            "Structured outputs (json_schema)",
            value=current.structured_outputs if current else True,
            help="Turn off for endpoints that only know JSON mode.",
        )
        if st.form_submit_button("Save endpoint"):
            params = dict(current.params) if current else {}
            params["structured_outputs"] = structured
            write(save_endpoint, f"Saved endpoint {name.strip()}.", admin, name, base_url=base_url,
                  model=model, api_key_env=key_env, params=params,
                  endpoint_id=current.id if current else None)  # fmt: skip


def endpoints_section(admin: UserInfo) -> None:
    with read_session() as session:
        endpoints = list_endpoints(session)
    if endpoints:
        table = [
            {"Name": e.name, "Base URL": e.base_url, "Model": e.model,
             "Key variable": e.api_key_env or "(none)", "Structured outputs": e.structured_outputs}
            for e in endpoints
        ]  # fmt: skip
        st.dataframe(pd.DataFrame(table), hide_index=True)
    else:
        st.caption("No endpoints yet: add one below.")
    by_name = {e.name: e for e in endpoints}
    choice = st.selectbox("Endpoint", [NEW, *by_name], key="admin:endpoint")
    current = by_name.get(choice)
    endpoint_form(admin, current)
    if current is None:
        return
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="center")
    if c1.button("Test connection"):
        try:
            config = current.config()
        except RubricforgeError as exc:
            show_error(exc)
        else:
            with st.spinner(escape_md(f"Calling {config.describe()} …")):
                result = check_endpoint(admin, config)
            (st.success if result.ok else st.error)(escape_md(result.message))
    sure = c3.checkbox(f"Yes, delete {current.name}", key=f"admin:delete:{current.id}")
    if c2.button("Delete endpoint", disabled=not sure):
        write(delete_endpoint, f"Deleted endpoint {current.name}.", admin, current.name)


def gate_section(admin: UserInfo) -> None:
    """The bar every training job must clear: the workspace's, and datasets' own."""
    st.caption(
        "The agreement gate refuses a GRPO job whose judge agrees with the annotators less "
        "than this. A dataset's row overrides the workspace's; a snapshot over several "
        "datasets gets the strictest. Researchers may only lower it with an override reason."
    )
    with read_session() as session:
        rows = list_thresholds(session)
        datasets = dataset_names(session)
    if rows:
        table = [
            {"Scope": r.dataset or "workspace", "Minimum kappa": r.min_kappa,
             "Minimum labelled items": r.min_labels, "Updated": r.updated_at}
            for r in rows
        ]  # fmt: skip
        st.dataframe(pd.DataFrame(table), hide_index=True)
    else:
        st.caption("No thresholds set: the defaults apply (kappa 0.6 over 30 items).")
    scope = st.selectbox("Scope", [WORKSPACE_SCOPE, *datasets], key="admin:gate_scope")
    dataset = None if scope == WORKSPACE_SCOPE else scope
    with read_session() as session:
        current = dataset_thresholds(session, dataset)
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    kappa = c1.number_input("Minimum kappa", -1.0, 1.0, float(current.min_kappa), 0.05,
                            key=f"admin:gate_kappa:{scope}")  # fmt: skip
    labels = c2.number_input("Minimum labelled items", 1, 100_000, int(current.min_labels),
                             key=f"admin:gate_labels:{scope}")  # fmt: skip
    if c3.button("Save thresholds"):
        write(set_thresholds, f"Gate thresholds for {scope}: kappa ≥ {kappa:g} over ≥ "
              f"{int(labels)} items.", actor=admin, min_kappa=float(kappa),
              min_labels=int(labels), dataset=dataset)  # fmt: skip


st.title("Admin")
admin = page_user(Action.manage_users)
show_flash()
# The open tab is session state: the flash above comes and goes, and to the browser a
# stateless tab bar that moves is a new one, which threw the admin back to "Users"
# after every endpoint action (save, pick, test).
users_tab, endpoints_tab, gate_tab = st.tabs(
    ["Users", "LLM endpoints", "Gate thresholds"], key="admin:tab", on_change="rerun"
)
with users_tab:
    users_section(admin)
with endpoints_tab:
    endpoints_section(admin)
with gate_tab:
    gate_section(admin)
