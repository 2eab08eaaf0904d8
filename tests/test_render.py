"""Rendering of command results: sizes, tables, JSON (pure)."""

from __future__ import annotations

import json

import pytest

from migration_guard.management.render import human_size, table, to_json


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (5 * 1024**2, "5.0 MB"),
        (3 * 1024**3, "3.0 GB"),
        (4096 * 1024**3, "4096.0 GB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_table_aligns_columns_and_strips_trailing_space() -> None:
    assert table([["id", "when", "note"], ["12", "today", ""], ["3", "x", "ok"]]) == [
        "id  when   note",
        "12  today",
        "3   x      ok",
    ]


def test_table_of_nothing_is_no_lines() -> None:
    assert table([]) == []


def test_to_json_is_valid_json_that_round_trips() -> None:
    document = {"b": [1, 2], "a": {"n": None}}
    assert json.loads(to_json(document)) == document
