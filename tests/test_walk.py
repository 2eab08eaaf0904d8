"""The one state walk (:mod:`migration_guard.walk`), the unwrapper
(:mod:`migration_guard.unwrap`) and the schema diff
(:mod:`migration_guard.reconcile.schema.diff`): pure helpers, no database."""

from __future__ import annotations

import gc

import pytest
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from migration_guard.reconcile.schema import Column, Table
from migration_guard.reconcile.schema.compare import Difference
from migration_guard.reconcile.schema.diff import diff, tidy
from migration_guard.run.planning import history_order
from migration_guard.unwrap import (
    changes_column,
    code_operations,
    database_operations,
    database_side,
)
from migration_guard.walk import FREEZES, StateWalk

needs_freeze = pytest.mark.skipif(
    not FREEZES, reason="Python 3.12: the walk never freezes (test_no_freeze_on_312)"
)


def model_keys(state: object) -> set[tuple[str, str]]:
    return set(state.models)  # type: ignore[attr-defined]


def test_each_visit_sees_the_state_before_its_migration_unrendered() -> None:
    """As the executor's: every migration before it in the history order."""
    loader = MigrationLoader(None)
    order = history_order(loader)
    # the walk's state moves on: checked during each visit
    for index, (visit, migration) in enumerate(
        zip(StateWalk(loader), order, strict=True)
    ):
        expected = ProjectState(real_apps=loader.unmigrated_apps)
        for earlier in order[:index]:
            expected = earlier.mutate_state(expected, preserve=False)
        assert visit.migration is migration
        assert model_keys(visit.state) == set(expected.models), visit.key
        for key, model in expected.models.items():
            assert list(visit.state.models[key].fields) == list(model.fields)
        assert "apps" not in visit.state.__dict__
    assert index == len(order) - 1


@needs_freeze
def test_the_heap_is_frozen_while_the_walk_runs_and_given_back_after() -> None:
    """The objects there before a walk are not traversed by the collections
    its visitors trigger; once the walk ends, finished or left early (the
    generator closed), or its visitor failed, they are collected again."""
    loader = MigrationLoader(None)
    gc.collect()  # no earlier walk's garbage is waiting (see the next test)
    assert gc.get_freeze_count() == 0
    for _visit in StateWalk(loader):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0

    gc.collect()
    walk = iter(StateWalk(loader))
    next(walk)
    assert gc.get_freeze_count() > 0
    walk.close()  # type: ignore[attr-defined]
    assert gc.get_freeze_count() == 0

    gc.collect()
    try:
        for _visit in StateWalk(loader):
            assert gc.get_freeze_count() > 0
            raise RuntimeError("a visitor fails")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0


def test_operations_yield_the_state_before_each_and_the_walk_finishes() -> None:
    loader = MigrationLoader(None)
    contenttype = ("contenttypes", "contenttype")
    fields: list[list[str]] = []
    for visit in StateWalk(loader):
        if visit.key == ("contenttypes", "0001_initial"):
            for _operation, state in visit.operations():
                assert contenttype not in state.models
                break  # the walk applies what the visitor left
        if visit.key == ("contenttypes", "0002_remove_content_type_name"):
            assert contenttype in visit.state.models  # 0001 was finished
            for _operation, state in visit.operations():
                fields.append(list(state.models[contenttype].fields))
            assert "name" not in visit.state.models[contenttype].fields
            assert not visit.pending
    # AlterModelOptions, AlterField(name), AlterUniqueTogether, RemoveField(name)
    assert [("name" in names) for names in fields] == [True] * 4


def test_through_and_until_bound_the_walk() -> None:
    loader = MigrationLoader(None)
    first, second = ("contenttypes", "0001_initial"), ("auth", "0001_initial")
    visited = [
        visit.key for visit in StateWalk(loader, through={first, second}, until={first})
    ]
    assert visited == [first]
    visited = [visit.key for visit in StateWalk(loader, through={first, second})]
    assert visited == [first, second]
    assert list(StateWalk(loader, until=set())) == []


def test_database_operations_unwrap_nested_separate_database_and_state() -> None:
    add = migrations.AddField("a", "b", models.IntegerField())
    sql = migrations.RunSQL("SELECT 1")
    python = migrations.RunPython(migrations.RunPython.noop)
    nested = migrations.SeparateDatabaseAndState(
        state_operations=[add],
        database_operations=[
            sql,
            migrations.SeparateDatabaseAndState(database_operations=[python]),
        ],
    )
    state_only = migrations.SeparateDatabaseAndState(state_operations=[add])
    assert list(database_operations(nested)) == [sql, python]
    assert list(database_operations(state_only)) == []
    assert list(database_operations(add)) == [add]
    assert list(database_side([add, nested, state_only])) == [add, sql, python]
    assert code_operations([add, nested]) == [sql, python]
    assert code_operations([state_only, add]) == []


def test_diff_is_every_element_that_differs_both_ways() -> None:
    column = Column("c", "IntegerField", False)
    before = {"t": Table("t", columns={"c": column}), "gone": Table("gone")}
    after = {"t": Table("t", columns={}), "new": Table("new")}
    assert diff(before, after) == {
        ("column", "t", "c"): (column, None),
        ("table", "gone"): (True, None),
        ("table", "new"): (None, True),
    }
    assert diff(before, before) == {}


def test_tidy_orders_by_table_and_a_missing_table_stands_for_its_elements() -> None:
    reported = [
        Difference(("index", "a", "x"), True, None),
        Difference(("column", "b", "y"), None, None),
        Difference(("table", "b"), True, None),
        Difference(("column", "a", "x"), None, None),
    ]
    assert [d.key for d in tidy(reported)] == [
        ("column", "a", "x"),
        ("index", "a", "x"),
        ("table", "b"),
    ]


def test_changes_column_ignores_what_django_keeps_out_of_the_schema() -> None:
    old = models.CharField(max_length=10, help_text="a")
    assert not changes_column(old, models.CharField(max_length=10, help_text="b"))
    assert not changes_column(
        old, models.CharField(max_length=10, choices=[("x", "X")], verbose_name="v")
    )
    assert changes_column(old, models.CharField(max_length=20))
    assert changes_column(old, models.CharField(max_length=10, null=True))
    assert changes_column(old, models.CharField(max_length=10, db_column="c"))
    assert changes_column(old, models.TextField())


@needs_freeze
def test_a_freeze_that_is_not_the_walks_survives_it() -> None:
    """A program that froze its heap itself (the pre-fork servers' recipe:
    ``gc.freeze()`` before forking, so that collections do not write to the
    shared pages) keeps it frozen after a walk; a walk inside a walk leaves
    the outer walk's heap frozen until the outer walk ends."""
    loader = MigrationLoader(None)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        for _visit in StateWalk(loader):
            pass
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()

    gc.collect()
    outer = iter(StateWalk(loader))
    next(outer)
    for _visit in StateWalk(loader):
        pass
    assert gc.get_freeze_count() > 0  # the outer walk is still running
    for _visit in outer:
        pass
    assert gc.get_freeze_count() == 0


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@needs_freeze
def test_a_walks_garbage_is_not_frozen_by_the_next_walk() -> None:
    """Walks in a row (a test suite, a ``rollbackplan --sql`` that previews
    and then classifies phases): a walk that starts before any full
    collection has run since the last one ended does not freeze, so the
    earlier walk's states are not frozen with the live heap and a full
    collection frees them (frozen, four walks of the generated
    1200-migration project in a row peaked at 139 MB instead of 85 MB).
    Once a full collection has run, walks freeze again."""
    import weakref

    loader = MigrationLoader(None)
    gc.disable()  # no collection but the test's own
    try:
        gc.collect()
        for _visit in StateWalk(loader):
            assert gc.get_freeze_count() > 0
            garbage = _Cycle()  # a state the walk made and dropped
            gone = weakref.ref(garbage)
            del garbage
            break
        assert gone() is not None  # only a full collection frees a cycle
        for _visit in StateWalk(loader):
            assert gc.get_freeze_count() == 0
            gc.collect()
            assert gone() is None
            break
        garbage = _Cycle()  # left by that unfrozen walk
        gone = weakref.ref(garbage)
        del garbage
        for _visit in StateWalk(loader):  # walks in a row: the same
            assert gc.get_freeze_count() == 0
            gc.collect()
            assert gone() is None
            break
        gc.collect()
        for _visit in StateWalk(loader):  # a full collection ran since
            assert gc.get_freeze_count() > 0
            break
    finally:
        gc.enable()


@pytest.mark.skipif(FREEZES, reason="only Python 3.12 leaves the collector alone")
def test_no_freeze_on_312() -> None:
    """On Python 3.12 a full collection leaves objects in the permanent
    generation: the walk cannot tell a program's freeze from them, and
    neither freezes nor thaws anything."""
    loader = MigrationLoader(None)
    gc.collect()
    before = gc.get_freeze_count()
    for _visit in StateWalk(loader):
        assert gc.get_freeze_count() == before
    assert gc.get_freeze_count() == before
