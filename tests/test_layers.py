"""The house rules on imports: domain and core know no web framework; layers run one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "simulator"
WEB = ("flask", "connexion", "starlette", "uvicorn", "werkzeug")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return sorted(p for p in base.rglob("*.py") if "handlers" not in p.parts)


@pytest.mark.parametrize("path", modules("core") + modules("platform") + modules("graphql")
                         + modules("eventstream") + modules("erp"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_imports_no_web_framework(path):
    bad = {n for n in imports_of(path) if n.split(".")[0] in WEB}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_nothing_above_it(path):
    above = {n for n in imports_of(path)
             if n.startswith("simulator.") and not n.startswith("simulator.core")}
    assert not above, f"{path.name} imports {above}"


@pytest.mark.parametrize("path", modules("graphql"), ids=lambda p: str(p.relative_to(ROOT)))
def test_graphql_does_not_import_handlers_or_app(path):
    bad = {n for n in imports_of(path)
           if n.startswith(("simulator.app", "simulator.web", "simulator.platform.handlers",
                            "simulator.cli"))}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", modules("eventstream"), ids=lambda p: str(p.relative_to(ROOT)))
def test_eventstream_stands_below_the_platform(path):
    above = {n for n in imports_of(path) if n.startswith("simulator.")
             and not n.startswith(("simulator.core", "simulator.eventstream"))
             and n != "simulator"}
    assert not above, f"{path.name} imports {above}"
