"""The template sources of ``makedatamigration``: Python files read as text.

Pure: no database. What the files render to is covered end to end by
tests/test_makedatamigration.py (the migrations apply and reverse).
"""

from __future__ import annotations

import ast

import pytest

from migration_guard.datamigrations.snippets import ORDER, collect
from migration_guard.datamigrations.source import SOURCES, load, render

SET_BASED = {
    "model": "Person",
    "app_label": "people",
    "field": "login",
    "condition": "CONDITION = None  # every row",
    "said": "full_name",
    "value": 'F("full_name")',
    "summary": "Set people.Person.login to full_name",
    "reset": "an empty string",
}


def test_placeholders_are_replaced_by_text_and_comment_lines_by_code() -> None:
    text = render("set_based", **SET_BASED).text
    assert text.startswith(
        'FIELD = "login"\n'
        "CONDITION = None  # every row\n\n\n"
        "def new_value():\n"
        '    """full_name"""\n'
        '    return F("full_name")\n'
    )
    assert '    Person = apps.get_model("people", "Person")\n' in text
    assert "__" not in text.replace("__name__", "")


def test_values_are_not_read_again_for_placeholders() -> None:
    text = render("set_based", **{**SET_BASED, "said": "__VALUE__ # __RESET__"}).text
    assert '    """__VALUE__ # __RESET__"""\n' in text


def test_every_placeholder_needs_a_value() -> None:
    values = {k: v for k, v in SET_BASED.items() if k != "reset"}
    with pytest.raises(
        AssertionError, match=r"sources/set_based.py: no value for __RESET__"
    ):
        render("set_based", **values)


def test_every_value_needs_a_placeholder() -> None:
    with pytest.raises(AssertionError, match=r"has no placeholder \['TABLE'\]"):
        render("set_based", **SET_BASED, table="x")


def test_imports_and_snippets_come_from_the_import_lines() -> None:
    source = load("map_values")
    assert source.imports == {"from django.db.models import Case, F, Q, Value, When"}
    assert source.needs == {"update_in_batches"}
    assert load("update_in_batches").needs == {"batch_transaction", "report"}
    assert load("update_in_batches").imports == {"import time"}


@pytest.mark.parametrize("atomic", [True, False])
def test_collect_follows_the_snippets_each_one_calls(atomic: bool) -> None:
    codes, imports = collect(frozenset({"change_in_batches"}), atomic=atomic)
    first_lines = [code.splitlines()[0] for code in codes]
    assert first_lines == [
        "def change_in_batches(rows, fields, change, label):",
        "def in_locked_batches(rows, handle, label):",
        "# Rows that get the same new values are written with one UPDATE ... WHERE pk",
        "def batch_transaction(using):",
        "# Progress: migrate sends pre_migrate with its verbosity and output stream",
    ]
    transaction = "import contextlib" if atomic else "from django.db import transaction"
    assert transaction in imports


@pytest.mark.parametrize(
    "path",
    sorted(p.name for p in SOURCES.glob("*.py") if p.stem not in ("__init__", "names")),
)
def test_every_source_has_code_after_its_marker(path: str) -> None:
    source = load(path[: -len(".py")])
    ast.parse(source.text.replace("# __", "#"))  # placeholders keep it Python
    assert source.needs <= {*ORDER}
