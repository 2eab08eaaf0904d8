"""Migrations whose database operations are not their state operations.

``SeparateDatabaseAndState`` changes the state with its ``state_operations``
and the database with its ``database_operations``; ``RunSQL`` with
``state_operations`` changes the database by SQL. What the database should
show afterwards is what the database operations did:

* schema operations there: their effect, found by applying them to a copy
  of the state (as ``SeparateDatabaseAndState.database_forwards`` does);
* none (a model adopted, moved between apps): no effect, unless the
  migration runs code elsewhere (a ``RunPython`` that creates the table
  when it is missing, as migration_guard's own ledger migration does);
* code (``RunSQL``, ``RunPython``), whose effect no state describes: only
  the existence of the tables the state operations create or delete is
  checked (an FTS5 virtual table the state knows as a model); their columns,
  keys and indexes are whatever the SQL made, and not compared.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations import operations as ops
from django.db.migrations.state import ProjectState

from migration_guard.reconcile.schema import ElementKey
from migration_guard.reconcile.schema.diff import Change, diff
from migration_guard.run.planning import Key
from migration_guard.unwrap import code_operations, database_operations
from migration_guard.walk import Visit


def splits(operation: Any) -> bool:
    """Whether ``operation`` changes the state other than the database."""
    if isinstance(operation, ops.SeparateDatabaseAndState):
        return True
    return isinstance(operation, ops.RunSQL) and bool(operation.state_operations)


def split_changes(
    visit: Visit,
    apps: Any,
    names: set[str] | None,
    touched: set[Key] | None,
) -> dict[ElementKey, Change]:
    """The migration's effect, operation by operation; moves the walk past it."""
    from migration_guard.reconcile.schema.expected import _related

    app_label, state = visit.migration.app_label, visit.state
    combined: dict[ElementKey, Change] = {}
    code = bool(code_operations(visit.migration.operations))
    for operation in visit.migration.operations:
        keys = _related(state, app_label, names)
        before = apps.tables(keys)
        database = _database_operations(operation)
        effect = None
        if (
            database is not None
            and not code_operations(database)
            and (database or not code)
        ):
            effect = _effect_of(database, state, apps, keys, app_label, names)
        visit.step()  # the state past ``operation``
        apps.forget(touched)
        changes = diff(before, apps.tables(keys | _related(state, app_label, names)))
        if database is None:
            effect = changes
        elif effect is None:  # code: the tables exist or not, nothing more
            effect = {key: value for key, value in changes.items() if key[0] == "table"}
        for key, (old, new) in effect.items():
            combined[key] = (combined[key][0] if key in combined else old, new)
    return {key: change for key, change in combined.items() if change[0] != change[1]}


def _database_operations(operation: Any) -> list[Any] | None:
    """What changes the database; ``None`` when it is the operation itself."""
    if isinstance(operation, ops.SeparateDatabaseAndState):
        return list(database_operations(operation))
    if splits(operation):
        return [operation]  # RunSQL with state operations: code
    return None


def _effect_of(
    database: list[Any],
    state: ProjectState,
    apps: Any,
    keys: set[Key],
    app_label: str,
    names: set[str] | None,
) -> dict[ElementKey, Change]:
    """What schema operations do to the tables, applied to a copy of the state."""
    from migration_guard.reconcile.schema.expected import _related
    from migration_guard.reconcile.schema.lightstate import LightApps

    before = apps.tables(keys)
    copy = state.clone()  # unrendered: a clone renders nothing either
    for operation in database:
        operation.state_forwards(app_label, copy)
    light = LightApps(copy, apps.connection, apps.backend, render=apps.rendered)
    return diff(before, light.tables(keys | _related(copy, app_label, names)))
