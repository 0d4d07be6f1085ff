"""The layout: one installed name, dependencies pointing one way, small modules.

Read from the source with `ast`, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FOLDERS = {"rubricforge": "rubricforge", "models": "rubricforge.models",
           "webapp": "rubricforge.webapp", "trainer": "rubricforge.trainer",
           "migrations": "rubricforge.migrations"}  # fmt: skip
# The domains in the order they may depend on each other: each imports only
# those before it (and itself) at module level, so there is no runtime cycle.
DOMAINS = ["core", "accounts", "llm", "rubrics", "data", "judging", "agreement", "training",
           "demo"]  # fmt: skip
HEAVY = ("streamlit", "torch", "trl", "transformers", "accelerate", "peft")


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO)
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute names this file imports (relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    folder = path.relative_to(REPO).parts[0]
    pkg = ""
    if folder in FOLDERS:
        pkg = module_name(path)
        pkg = pkg if path.name == "__init__.py" else pkg.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def test_the_wheel_installs_one_top_level_name() -> None:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = conf["packages"]
    assert {p.split(".")[0] for p in packages} == {"rubricforge"}
    on_disk = set()
    for folder in FOLDERS:
        for init in (REPO / folder).rglob("__init__.py"):
            on_disk.add(module_name(init))
    assert set(packages) == on_disk, "pyproject's package list must name every package folder"
    assert conf["package-dir"] == {v: k for k, v in FOLDERS.items()}


def test_nothing_imports_the_folders_by_their_bare_names() -> None:
    bare = {"models", "webapp", "trainer", "migrations"}
    for folder in [*FOLDERS, "tests", "bench"]:
        for path in sources(folder):
            for name in imports(path):
                assert name.split(".")[0] not in bare, f"{path}: imports {name}"


@pytest.mark.parametrize("folder", ["models", "migrations"])
def test_the_domain_imports_neither_streamlit_nor_torch_nor_the_app(folder: str) -> None:
    for path in sources(folder):
        for name in imports(path):
            assert name.split(".")[0] not in HEAVY, f"{path}: imports {name}"
            for outer in ("rubricforge.webapp", "rubricforge.trainer", "rubricforge.cli"):
                assert not name.startswith(outer), f"{path}: imports {name}"


def test_the_cli_loads_streamlit_and_torch_only_in_the_processes_it_starts() -> None:
    for path in sources("rubricforge"):
        for name in imports(path):
            assert name.split(".")[0] not in HEAVY, f"{path}: imports {name}"


def test_only_the_trainer_imports_torch() -> None:
    for folder in ("models", "webapp", "rubricforge", "migrations"):
        for path in sources(folder):
            for name in imports(path):
                assert name.split(".")[0] not in ("torch", "trl"), f"{path}: imports {name}"


def test_the_trainer_does_not_import_streamlit_or_the_webapp() -> None:
    for path in sources("trainer"):
        for name in imports(path):
            assert name.split(".")[0] != "streamlit", f"{path}: imports {name}"
            assert not name.startswith("rubricforge.webapp"), f"{path}: imports {name}"


def test_domains_depend_only_on_the_domains_before_them() -> None:
    for path in sources("models"):
        rel = path.relative_to(REPO / "models")
        if len(rel.parts) == 1:
            continue  # models/__init__.py lists every table for Alembic
        own = DOMAINS.index(rel.parts[0])
        for name in imports(path, top_level_only=True):
            parts = name.split(".")
            if parts[:2] != ["rubricforge", "models"] or len(parts) < 3:
                continue
            assert DOMAINS.index(parts[2]) <= own, f"{path}: imports {name} at module level"


LIMIT = 400


def test_modules_stay_small() -> None:
    for folder in ("models", "webapp", "trainer", "rubricforge"):
        for path in sources(folder):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= LIMIT, f"{path} has {lines} lines: split it by concept"
