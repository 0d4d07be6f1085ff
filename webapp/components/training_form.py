"""The New-job form, built from the job config's own pydantic fields.

Every field of JobConfig and JudgeSpec becomes a widget chosen by its type (a
number, a flag, a choice, text), labelled by its name and helped by its
description, so a field added to the config appears here without a change. The
judge's endpoint is picked from the admins' list (Admin page); "Custom" types one.
The YAML editor ("Advanced") shows the same settings: one dict in the session is
the config, the form and the YAML are two views of it, and switching between them
carries every value across (keys the form has no widget for, like trl_args, ride
along untouched).
"""

from __future__ import annotations

import enum
import math
import types
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import streamlit as st
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rubricforge.models.llm.endpoints import EndpointRow
from rubricforge.models.training.config import JobConfig, JudgeSpec
from rubricforge.webapp.components.training import parse_config_text

CONFIG_KEY, EDITOR_KEY, GEN_KEY = "training:config", "training:editor", "training:form_gen"
YAML_BROKEN_KEY = "training:yaml_broken"
FORM, YAML = "Form", "YAML (advanced)"
CUSTOM = "Custom endpoint"
# Shown first, in the open; every other field goes under "More settings".
MAIN = (
    "model_name_or_path",
    "run_name",
    "max_steps",
    "learning_rate",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_processes",
    "max_completion_length",
    "temperature",
    "beta",
)
JUDGE_MAIN = ("preset",)
DERIVED = ("prompts_per_step",)  # computed from the batch fields; the form never pins it
ENDPOINT_FIELDS = ("base_url", "model", "api_key_env")
LABELS = {"model_name_or_path": "Base model", "base_url": "Judge URL", "model": "Judge model"}
RAR_BASE_MODEL = "Qwen/Qwen2.5-7B"
RAR_JUDGE = {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini"}

Read = Callable[[], dict[str, Any]]


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _judge_from(endpoint: EndpointRow) -> dict[str, Any]:
    judge = {"base_url": endpoint.base_url, "model": endpoint.model}
    judge["api_key_env"] = endpoint.api_key_env or "none"
    for name in ("timeout", "max_retries"):  # the admin's settings, where the judge has them
        if name in endpoint.params:
            judge[name] = endpoint.params[name]
    return judge


def default_config(endpoints: Sequence[EndpointRow]) -> dict[str, Any]:
    """RaR's defaults, judged by the admins' first endpoint (gpt-4o-mini without one)."""
    judge = _judge_from(endpoints[0]) if endpoints else RAR_JUDGE
    config = JobConfig(model_name_or_path=RAR_BASE_MODEL, judge=JudgeSpec.model_validate(judge))
    return config.model_dump(mode="json", exclude=set(DERIVED))


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def _choices(kind: Any) -> list[Any] | None:
    if get_origin(kind) is Literal:
        return list(get_args(kind))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [m.value for m in kind]
    return None


def _step(value: float | None) -> float:
    if not value:
        return 0.01
    return float(10 ** math.floor(math.log10(abs(value))))


def _fits(value: Any, kind: Any, optional: bool, choices: list[Any] | None) -> bool:
    """Whether the widget can show `value` (YAML may hold anything)."""
    if value is None:
        return optional
    if choices is not None:
        return value in choices
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def field_widget(name: str, info: FieldInfo, value: Any, key: str) -> Any:
    """One config field as a widget; returns its value as the config holds it. A value
    the widget cannot show (from the YAML) starts from the field's default, said so."""
    kind, optional = _unwrap(info.annotation)
    text, help_ = label(name), info.description
    choices = _choices(kind)
    if _has_widget(info) and not _fits(value, kind, optional, choices):
        st.warning(f"{text}: {value!r} is not a valid value; the form starts from the default.")
        value = info.get_default() if not info.is_required() else None
    if choices is not None:
        options = [None, *choices] if optional else choices
        index = options.index(value) if value in options else 0
        return st.selectbox(text, options, index=index, key=key, help=help_,
                            format_func=lambda o: "default" if o is None else str(o))  # fmt: skip
    if kind is bool and optional:
        options = [None, True, False]
        return st.selectbox(
            text, options, index=options.index(value) if value in options else 0, key=key,
            help=help_, format_func=lambda o: {None: "auto", True: "on", False: "off"}[o],
        )  # fmt: skip
    if kind is bool:
        return st.checkbox(text, value=bool(value), key=key, help=help_)
    if kind is int:
        return st.number_input(text, value=value, step=1, key=key, help=help_)
    if kind is float:
        number = st.number_input(
            text, value=None if value is None else float(value), step=_step(value), format="%g",
            key=key, help=help_,
        )  # fmt: skip
        return number
    if kind is str:
        typed = st.text_input(text, value="" if value is None else str(value), key=key, help=help_)
        return (typed.strip() or None) if optional else typed
    return value  # nested settings (trl_args): the YAML editor has them


def _editable(model: type[BaseModel], skip: Sequence[str]) -> list[str]:
    return [n for n, f in model.model_fields.items() if n not in skip and _has_widget(f)]


def _has_widget(info: FieldInfo) -> bool:
    kind, _ = _unwrap(info.annotation)
    return _choices(kind) is not None or kind in (bool, int, float, str)


def _fields(
    model: type[BaseModel], names: Sequence[str], values: dict[str, Any], prefix: str, columns: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cols = st.columns(columns)
    for n, name in enumerate(names):
        info = model.model_fields[name]
        with cols[n % columns]:
            out[name] = field_widget(
                name, info, values.get(name, info.get_default()), prefix + name
            )
    return out


def _judge_endpoint(endpoints: Sequence[EndpointRow], judge: dict[str, Any], prefix: str) -> Any:
    """The admins' endpoint the judge uses, or CUSTOM."""
    by_name = {e.name: e for e in endpoints}
    current = next(
        (e.name for e in endpoints
         if (e.base_url, e.model) == (judge.get("base_url"), judge.get("model"))),
        CUSTOM,
    )  # fmt: skip
    options = [*by_name, CUSTOM]
    return st.selectbox(
        "Judge endpoint", options, index=options.index(current), key=prefix + "endpoint",
        help="The LLM endpoints an admin configured (Admin page); the worker calls the judge "
        "there, with the key from the named environment variable.",
        format_func=lambda o: o if o == CUSTOM else f"{o} ({by_name[o].model})",
    )  # fmt: skip


def config_form(
    endpoints: Sequence[EndpointRow], config: dict[str, Any], gen: int
) -> dict[str, Any]:
    """The form over `config`; returns the config as the widgets now say."""
    prefix = f"training:form:{gen}:"
    # Derived fields are left out, so a changed batch size derives them again.
    config = {k: v for k, v in config.items() if k not in DERIVED}
    judge = dict(config.get("judge") or {})
    main = [n for n in MAIN if n in _editable(JobConfig, ())]
    values = _fields(JobConfig, main, config, prefix, 3)
    per_step = values.get("per_device_train_batch_size", 0) * values.get("num_processes", 1)
    per_step *= values.get("gradient_accumulation_steps", 1)
    if values.get("num_generations"):
        st.caption(
            f"One step: {per_step} completions = {per_step / values['num_generations']:g} "
            f"prompts x {values['num_generations']} generations each."
        )
    st.markdown("**Judge**")
    chosen = _judge_endpoint(endpoints, judge, prefix + "judge:")
    if chosen == CUSTOM:
        judge.update(_fields(JudgeSpec, ENDPOINT_FIELDS, judge, prefix + "judge:", 3))
    else:
        endpoint = next(e for e in endpoints if e.name == chosen)
        if (endpoint.base_url, endpoint.model) != (judge.get("base_url"), judge.get("model")):
            judge.update(_judge_from(endpoint))
        st.caption(f"Judge {endpoint.model} at {endpoint.base_url}")
    judge.update(_fields(JudgeSpec, JUDGE_MAIN, judge, prefix + "judge:", 2))
    rest = [n for n in _editable(JudgeSpec, (*ENDPOINT_FIELDS, *JUDGE_MAIN))]
    with st.expander("More judge settings"):
        judge.update(_fields(JudgeSpec, rest, judge, prefix + "judge:", 3))
    others = [n for n in _editable(JobConfig, main) if n not in ("judge", *DERIVED)]
    with st.expander("More settings"):
        values.update(_fields(JobConfig, others, config, prefix, 3))
        nested = [
            n
            for n in JobConfig.model_fields
            if n not in (*_editable(JobConfig, ()), "judge", *DERIVED)
        ]
        st.caption(f"Set in the YAML editor: {', '.join(nested)}.")
    return {**config, **values, "judge": judge}


def _switch_editor() -> None:
    """On a switch, the other view starts from the current config (new widget keys)."""
    state = st.session_state
    gen = state.get(GEN_KEY, 0)
    if state.get(EDITOR_KEY) == FORM:  # leaving the YAML: it is the config, if it reads
        try:
            state[CONFIG_KEY] = parse_config_text(state.get(f"training:yaml:{gen}", ""))
            state[YAML_BROKEN_KEY] = False
        except Exception:  # noqa: BLE001  (kept: the form shows the last settings that read)
            state[YAML_BROKEN_KEY] = True
    state[GEN_KEY] = gen + 1


def config_editor(endpoints: Sequence[EndpointRow]) -> Read:
    """The form or the YAML; returns how to read the config to submit (which raises
    JobConfigError for YAML that does not read)."""
    state = st.session_state
    if CONFIG_KEY not in state:
        state[CONFIG_KEY] = default_config(endpoints)
    editor = st.segmented_control(
        "Edit the config as", [FORM, YAML], default=FORM, required=True, key=EDITOR_KEY,
        on_change=_switch_editor,
    )  # fmt: skip
    gen = state.get(GEN_KEY, 0)
    if editor == YAML:
        text = st.text_area(
            "Config (YAML or JSON)",
            yaml.safe_dump(state[CONFIG_KEY], sort_keys=False),
            height=360,
            key=f"training:yaml:{gen}",
        )
        return lambda: parse_config_text(text)
    if state.pop(YAML_BROKEN_KEY, False):
        st.warning("The YAML did not read, so the form shows the last settings that did.")
    config = config_form(endpoints, state[CONFIG_KEY], gen)
    state[CONFIG_KEY] = config
    return lambda: config
