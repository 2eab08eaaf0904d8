"""The template sources (``datamigrations/sources/*.py``), read as text.

A source is a Python file that ruff checks: imports, then the line
``# ---- generated code ----`` and the code a migration receives. Imports from
``migration_guard.datamigrations.sources`` only name what the migration
defines elsewhere in its file (placeholders' values, BATCH_SIZE, the
snippets it calls: :attr:`Source.needs`); every other import is one the
code needs (:attr:`Source.imports`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from functools import cache
from pathlib import Path

SOURCES = Path(__file__).with_name("sources")
PACKAGE = "migration_guard.datamigrations.sources"
MARKER = "# ---- generated code ----\n"
# a name in upper case between double underscores (none inside it), alone on
# a comment line (replaced by lines of code) or anywhere (replaced by text)
_NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"
PLACEHOLDER = re.compile(rf"^# __(?P<line>{_NAME})__$|__(?P<text>{_NAME})__", re.M)


@dataclasses.dataclass(frozen=True)
class Source:
    """One source file: its code, the imports it needs, the snippets it calls."""

    text: str
    imports: frozenset[str]
    needs: frozenset[str]


@cache
def load(name: str) -> Source:
    head, marker, code = (SOURCES / f"{name}.py").read_text().partition(MARKER)
    if not marker:
        raise AssertionError(f"sources/{name}.py has no line {MARKER.strip()!r}")
    imports: set[str] = set()
    needs: set[str] = set()
    for node in ast.parse(head).body:
        if isinstance(node, ast.Import):
            imports |= {f"import {alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(f"{PACKAGE}."):
                needs.add(snippet_name(node.module[len(PACKAGE) + 1 :]))
            else:
                names = ", ".join(alias.name for alias in node.names)
                imports.add(f"from {node.module} import {names}")
    needs.discard("names")
    return Source(code.strip() + "\n", frozenset(imports), frozenset(needs))


def snippet_name(module: str) -> str:
    """The snippet a source module holds (both batch_transaction variants: one)."""
    return "batch_transaction" if module.startswith("batch_transaction") else module


def render(name: str, **values: str) -> Source:
    """Source ``name`` with placeholder NAME replaced by ``values[name]``.

    A comment line ``# __NAME__`` is replaced by the value's lines; elsewhere
    ``__NAME__`` by the value. Every placeholder needs a value and every value
    a placeholder.
    """
    wanted = {key.upper(): value for key, value in values.items()}
    used: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        key = match.group("line") or match.group("text")
        if key not in wanted:
            raise AssertionError(f"sources/{name}.py: no value for __{key}__")
        used.add(key)
        return wanted[key]

    source = load(name)
    text = PLACEHOLDER.sub(replace, source.text)  # one pass: values stay as given
    unused = sorted(set(wanted) - used)
    if unused:
        raise AssertionError(f"sources/{name}.py has no placeholder {unused}")
    return dataclasses.replace(source, text=text)
