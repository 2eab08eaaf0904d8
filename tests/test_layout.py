"""The package's house rules (issue 13), checked on its source.

Sizes: no module over 500 lines, no function over 60. Layers: no library module
imports a command module, uses ``CommandError`` or a command's output wrapper;
commands are the only place where errors become output and exit status.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "migration_guard"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _library_modules() -> list[Path]:
    """The modules below the commands; not the sources ``makedatamigration``
    copies into a project's migrations (code that runs in the project)."""
    return [
        p
        for p in _modules()
        if "management" not in p.relative_to(PACKAGE).parts
        and "sources" not in p.relative_to(PACKAGE).parts
    ]


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_no_module_is_over_500_lines() -> None:
    long = {
        _name(p): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{_name(path)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _raised_or_subclassed(tree: ast.AST) -> set[str]:
    """Names of the exceptions ``tree`` raises by calling them or subclasses."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            names.add(ast.unparse(node.exc.func))
        elif isinstance(node, ast.ClassDef):
            names.update(ast.unparse(base) for base in node.bases)
    return names


@pytest.mark.parametrize("path", _library_modules(), ids=_name)
def test_library_modules_stay_below_the_commands(path: Path) -> None:
    """No command module, no command output; Django's CommandError may be
    caught (Django's own migrate raises it) but is never raised or extended."""
    tree = ast.parse(path.read_text())
    below = sorted(
        name
        for name in _imported(tree)
        if name.startswith("migration_guard.management.commands")
        or name.endswith((".BaseCommand", ".OutputWrapper"))
    )
    assert below == []
    assert "CommandError" not in {
        name.rsplit(".", 1)[-1] for name in _raised_or_subclassed(tree)
    }
