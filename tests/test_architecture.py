"""docs/architecture.md's map of the package matches the code: every module, every import."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "telnyx_async"


def _module_name(path: Path) -> str:
    """``_cli._bulk`` for telnyx_async/_cli/_bulk.py, ``testing.__init__`` for a package."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """A dotted name inside the package as this map names it (a package is itself)."""
    if name in MODULES:
        return name
    if f"{name}.__init__" in MODULES:
        return name
    return None


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports (relative or absolute), by map name.

    ``from ._x import y`` is the module ``_x``; ``from . import _x`` is ``_x`` too.
    """
    package = module.split(".")[:-1]  # the folder: for x.__init__ that is x
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                head = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.split(".")[0] == "telnyx_async":
                head = node.module.removeprefix("telnyx_async").lstrip(".")
            else:
                continue
            if node.module and (resolved := _resolve(head)):
                found.add(resolved)
            else:
                names = (".".join(filter(None, [head, a.name])) for a in node.names)
                found |= {r for name in names if (r := _resolve(name))}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                inner = alias.name.removeprefix("telnyx_async").lstrip(".")
                if alias.name.split(".")[0] == "telnyx_async" and (r := _resolve(inner)):
                    found.add(r)
    found.discard(module)
    return found


def documented() -> dict[str, set[str]]:
    """``{module: modules it may import}`` from the table in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows: dict[str, set[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`[\w.]+`", cells[0]):
            rows[cells[0].strip("`")] = set(re.findall(r"`([\w.]+)`", cells[2]))
    return rows


def test_the_map_lists_every_module_once() -> None:
    """Each module of the package has its row, and each row is a module."""
    assert sorted(documented()) == sorted(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_what_its_row_allows(module: str) -> None:
    """No import the map does not name (a new one is a decision: write it down)."""
    allowed = documented().get(module, set())
    assert imports_of(module) <= allowed, sorted(imports_of(module) - allowed)


def test_the_resolver_sees_relative_absolute_and_package_imports() -> None:
    """The checker itself: it finds what a few known modules import."""
    assert imports_of("_session") >= {"_transport", "_decide", "_connections"}
    assert "_cli._common" in imports_of("_cli._bulk")
    assert "testing" in imports_of("pytest_plugin")
    assert imports_of("_version") == set()
