"""Django's migration internals: executor state, state reloads, Migration.apply/unapply.

Checked on Django 5.2, 6.0 and 6.1 (each function says what it relies on);
``tests/test_compat.py`` compares each with Django's own result on real
migrations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.state import AppConfigStub, ProjectState, StateApps


def applied_state(executor: MigrationExecutor) -> ProjectState:
    """The project state of the migrations ``executor``'s loader has applied.

    ``MigrationExecutor._create_project_state(with_applied_migrations=True)``,
    what ``migrate`` hands to the pre_migrate signal and to ``migrate()``.
    Checked on Django 5.2, 6.0, 6.1: private, same signature and body in all
    three (unmigrated apps as real apps, then every applied migration's
    ``mutate_state`` in the order of a clean forwards plan).
    """
    state: ProjectState = executor._create_project_state(  # type: ignore[attr-defined]
        with_applied_migrations=True
    )
    return state


def reload_models(state: ProjectState, keys: Iterable[tuple[str, str]]) -> None:
    """Render again exactly the models ``keys`` of ``state``'s rendered apps.

    ``ProjectState._reload(related_models)``: unregisters those models and
    renders their states again, without the related models
    ``reload_model`` would add. Checked on Django 5.2, 6.0, 6.1: private,
    takes a set of ``(app_label, model_name)`` and needs ``state.apps``
    rendered (the callers check ``"apps" in state.__dict__``).
    """
    state._reload(set(keys))  # type: ignore[attr-defined]


def clone_apps(apps: StateApps) -> StateApps:
    """``StateApps.clone()``, without its deep copy of the registry's dicts.

    ``StateApps.clone`` deep-copies ``all_models`` (app label -> model name
    -> model class); ``deepcopy`` copies no class, so new dicts holding the
    same classes are its result, at a tenth of the cost (a revert preview
    clones its state before each operation). The rest is Django's body: an
    ``AppConfigStub`` per app config over the new dicts, the same
    ``real_models``. Checked on Django 5.2 (``tests/test_preview_work.py``
    compares it with ``StateApps.clone``, which the tox matrix runs on 6.0
    and 6.1).
    """
    clone = StateApps([], {})
    clone.all_models = defaultdict(
        dict, {label: dict(models) for label, models in apps.all_models.items()}
    )
    for app_label in apps.app_configs:
        app_config = AppConfigStub(app_label)
        app_config.apps = clone
        app_config.import_models()
        clone.app_configs[app_label] = app_config
    clone.real_models = apps.real_models
    return clone


def _atomic_operation(migration: Migration, operation: Any) -> bool:
    """Whether ``Migration.apply`` runs ``operation`` in its own transaction."""
    return bool(
        operation.atomic or (migration.atomic and operation.atomic is not False)
    )


def apply_keeping_states(
    migration: Migration, state: ProjectState, editor: Any
) -> list[ProjectState]:
    """``Migration.apply``, keeping the state before each operation.

    A copy of ``Migration.apply`` of Django 5.2 (unchanged in 6.0 and 6.1,
    checked) without ``collect_sql``: each operation's ``state_forwards`` on
    ``state``, then its ``database_forwards`` from the clone taken before,
    in a transaction of its own when the editor's is not atomic and the
    operation is. Returns the states before each operation, then ``state``
    itself, which has moved past the migration (as ``Migration.apply`` moves
    it), for :func:`unapply_with_states`.
    """
    app_label = migration.app_label
    states = []
    for operation in migration.operations:
        old_state = state.clone()
        states.append(old_state)
        operation.state_forwards(app_label, state)
        if not editor.atomic_migration and _atomic_operation(migration, operation):
            with transaction.atomic(editor.connection.alias):
                operation.database_forwards(app_label, editor, old_state, state)
        else:
            operation.database_forwards(app_label, editor, old_state, state)
    states.append(state)
    return states


def unapply_with_states(
    migration: Migration, states: list[ProjectState], editor: Any
) -> None:
    """``Migration.unapply`` over the states :func:`apply_keeping_states` kept.

    A copy of ``Migration.unapply`` of Django 5.2 (unchanged in 6.0 and 6.1,
    checked) without ``collect_sql`` and without its first phase (the
    intermediate states, already at hand): refuses an irreversible
    operation with Django's ``IrreversibleError`` and message, then runs
    ``database_backwards`` of each operation, last first, from the state
    after it to the state before it.

    One difference with Django's: the states were rendered during the
    apply, before Django's ``unapply`` would render its own, and SQLite's
    table rebuild orders a model's fields by creation counter, so a rebuilt
    table may list its columns in another order (same columns, same rows).
    """
    app_label = migration.app_label
    for operation in migration.operations:
        if not operation.reversible:
            raise IrreversibleError(
                f"Operation {operation} in {migration} is not reversible"
            )
    for index in reversed(range(len(migration.operations))):
        operation = migration.operations[index]
        before, after = states[index], states[index + 1]
        if not editor.atomic_migration and _atomic_operation(migration, operation):
            with transaction.atomic(editor.connection.alias):
                operation.database_backwards(app_label, editor, after, before)
        else:
            operation.database_backwards(app_label, editor, after, before)
