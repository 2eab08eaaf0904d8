"""The schema a migration state expects, and what one migration changes in it.

:func:`model_table` describes the table of a rendered model in the terms of
:mod:`migration_guard.reconcile.schema` (the field class introspection would report on
this
backend, not the model's own class). :func:`project_schema` does it for every
model the database should have a table for: concrete, managed, not swapped,
allowed by the routers, with the auto-created many-to-many tables.

:func:`migration_deltas` walks the migration graph once, as the executor
walks it (one :class:`ProjectState`, models re-rendered incrementally), and
keeps for each migration the elements whose value it changes: its effect on
the database, verifiable on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, router
from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

from migration_guard.reconcile.schema import (
    Column,
    ElementKey,
    ForeignKey,
    Schema,
    Table,
)
from migration_guard.reconcile.schema.backends import backend_for
from migration_guard.reconcile.schema.backends.base import SchemaBackend
from migration_guard.reconcile.schema.diff import Change, diff
from migration_guard.run.planning import Key, history_order
from migration_guard.unwrap import code_operations, database_operations
from migration_guard.walk import StateWalk, Visit

#: the column type of a foreign key to a field of this class
RELATED_TYPES = {
    "AutoField": "IntegerField",
    "BigAutoField": "BigIntegerField",
    "SmallAutoField": "SmallIntegerField",
}
#: fields stored as varchar whose class introspection cannot tell apart
CHAR_TYPES = {"SlugField", "FileField", "ImageField", "FilePathField", "IPAddressField"}


def field_class(field: Any, connection: Any, backend: SchemaBackend) -> str:
    """The field class introspection reports for ``field``'s column."""
    target = field
    internal = target.get_internal_type()
    while target.is_relation and (target.many_to_one or target.one_to_one):
        target = target.target_field
        internal = RELATED_TYPES.get(target.get_internal_type()) or (
            target.get_internal_type()
        )
    features = connection.features
    native_uuid = features.has_native_uuid_field
    if internal in CHAR_TYPES or (internal == "UUIDField" and not native_uuid):
        internal = "CharField"
    elif internal == "JSONField" and not features.can_introspect_json_field:
        internal = "TextField"
    mapped = features.introspected_field_types.get(internal, internal)
    return backend.field_type(mapped, field)


def own_column_type(field: Any, connection: Any) -> bool:
    """Whether the column type of ``field`` is its own, not its class's.

    A field (or the field a foreign key points at) whose internal type the
    backend has no column type for (``ArrayField``, ``PointField``...) or
    whose class makes its own ``db_type()`` (``citext``, a custom field) is
    compared by the database's type name: its class says nothing of it.
    """
    target = field.output_field if getattr(field, "generated", False) else field
    while target.is_relation and (target.many_to_one or target.one_to_one):
        target = target.target_field
    if target.get_internal_type() not in connection.data_types:
        return True
    return not type(target).db_type.__module__.startswith("django.db.models.")


def column_of(field: Any, connection: Any, backend: SchemaBackend) -> Column:
    """The column of ``field``, as introspection reads it back.

    A generated column has its output field's type and is never declared
    NOT NULL (its expression decides).
    """
    kind: str | None = field_class(field, connection, backend)
    if own_column_type(field, connection):
        kind = None
    sized = field.output_field if field.generated else field
    max_length = sized.max_length if kind == "CharField" else None
    precision = scale = None
    if kind == "DecimalField":
        precision, scale = sized.max_digits, sized.decimal_places
    return Column(
        name=field.column,
        type=kind,
        null=field.generated
        or bool(field.null)
        or (
            field.empty_strings_allowed
            and connection.features.interprets_empty_strings_as_nulls
        ),
        max_length=max_length,
        precision=precision,
        scale=scale,
        primary_key=bool(field.primary_key),
        db_type=backend.normalise_type(field.db_type(connection)) or None,
        declared=type(field).__name__,
    )


def _columns(model: Any, names: Iterable[str]) -> tuple[str, ...]:
    return tuple(model._meta.get_field(name.lstrip("-")).column for name in names)


def model_table(model: Any, connection: Any, backend: SchemaBackend) -> Table:
    """The table ``model`` (a rendered model class) should have on ``connection``."""
    opts = model._meta
    features = connection.features
    table = Table(opts.db_table)
    for fld in opts.local_fields:
        if not fld.concrete or fld.column is None:
            continue
        if fld.db_parameters(connection)["type"] is None:
            continue
        table.columns[fld.column] = column_of(fld, connection, backend)
        if fld.primary_key:
            table.primary_key = (fld.column,)
        if fld.is_relation and fld.db_constraint and features.supports_foreign_keys:
            target = fld.target_field
            table.foreign_keys[fld.column] = ForeignKey(
                fld.column, target.model._meta.db_table, target.column
            )
        if fld.unique and not fld.primary_key:
            table.uniques.add((fld.column,))
        elif backend.field_indexed(fld) and not fld.primary_key:
            table.indexes.add((fld.column,))
    for names in opts.unique_together:
        table.uniques.add(_columns(model, names))
    for index in opts.indexes:
        # Without partial indexes (MySQL) Django creates the index without its
        # condition, so it is expected all the same.
        if not index.contains_expressions:
            table.indexes.add(_index_columns(model, index, features))
    for constraint in opts.constraints:
        if isinstance(constraint, models.CheckConstraint):
            if features.supports_table_check_constraints:
                table.checks.add(constraint.name)
        elif isinstance(
            constraint, models.UniqueConstraint
        ) and _unique_constraint_exists(constraint, features):
            table.uniques.add(_index_columns(model, constraint, features))
    table.definitions = backend.definitions(model, table)
    return table


def _index_columns(model: Any, index: Any, features: Any) -> tuple[str, ...]:
    """The columns introspection reports for an index or unique constraint.

    A covering index reports its ``INCLUDE`` columns after the key columns
    (PostgreSQL's ``indkey``); where covering indexes are not supported,
    Django leaves them out.
    """
    include = tuple(index.include) if features.supports_covering_indexes else ()
    return _columns(model, (*index.fields, *include))


def _unique_constraint_exists(constraint: Any, features: Any) -> bool:
    """Whether Django creates this unique constraint on this backend.

    The schema editor silently skips one that uses a feature the backend
    lacks (``_unique_supported``); one on expressions has no column set.
    """
    if constraint.contains_expressions or not constraint.fields:
        return False
    needs = (
        (constraint.condition is not None, features.supports_partial_indexes),
        (bool(constraint.include), features.supports_covering_indexes),
        (
            constraint.deferrable is not None,
            features.supports_deferrable_unique_constraints,
        ),
        (
            constraint.nulls_distinct is not None,
            features.supports_nulls_distinct_unique_constraints,
        ),
    )
    return all(supported for used, supported in needs if used)


def has_tables(model: Any, alias: str) -> bool:
    """Whether the database of ``alias`` should have this model's table."""
    opts = model._meta
    owner = opts.auto_created or model  # an auto-created m2m table follows its model
    owner_opts = owner._meta
    return bool(
        owner_opts.managed
        and not owner_opts.proxy
        and not owner_opts.swapped
        and opts.managed
        and router.allow_migrate_model(alias, owner)
    )


def model_tables(model: Any, connection: Any, backend: SchemaBackend) -> list[Table]:
    """The model's table and its auto-created many-to-many tables."""
    tables = [model_table(model, connection, backend)]
    for fld in model._meta.local_many_to_many:
        through = fld.remote_field.through
        meta = getattr(through, "_meta", None)  # a model, not a lazy "app.Model"
        if meta is not None and meta.auto_created:
            tables.append(model_table(through, connection, backend))
    return tables


def project_schema(
    apps: Any, connection: Any, *, exclude_apps: Iterable[str] = ()
) -> Schema:
    """Every table a state's models expect on ``connection`` (``apps`` rendered)."""
    backend = backend_for(connection)
    excluded = set(exclude_apps)
    schema: Schema = {}
    for model in apps.get_models():
        if model._meta.app_label in excluded:
            continue
        if has_tables(model, connection.alias):
            for table in model_tables(model, connection, backend):
                schema[table.name] = table
    return schema


# --- one migration's effect ------------------------------------------------


@dataclass
class Delta:
    """What applying one migration changes in the expected schema."""

    key: Key
    #: element -> (value before, value after); ``None`` is "absent"
    changes: dict[ElementKey, Change] = field(default_factory=dict)
    #: the operations that run code the schema cannot show ("RunPython ...")
    unverifiable: list[str] = field(default_factory=list)

    @property
    def tables(self) -> set[str]:
        return {key[1] for key in self.changes}


def _state_operations(operations: Iterable[Any]) -> Iterable[Any]:
    """The operations that change the state or the schema, unwrapping nested ones.

    A ``SeparateDatabaseAndState``'s database operations count too: they may
    change models its state operations do not name.
    """
    for operation in operations:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            yield from _state_operations(operation.state_operations)
            yield from _state_operations(database_operations(operation))
        elif isinstance(operation, ops.RunSQL):
            yield from _state_operations(operation.state_operations)
        elif not isinstance(operation, ops.RunPython):
            yield operation


def touched_models(migration: Migration) -> set[str] | None:
    """Lower-case names of the models of its app a migration changes.

    ``None`` when an operation of an unknown kind could change any of them.
    """
    names: set[str] = set()
    for operation in _state_operations(migration.operations):
        found = False
        for attribute in (
            "name_lower",
            "model_name_lower",
            "old_name_lower",
            "new_name_lower",
        ):
            value = getattr(operation, attribute, None)
            if isinstance(value, str):
                names.add(value)
                found = True
        if not found:
            return None
    return names


def _related(state: ProjectState, app_label: str, names: set[str] | None) -> set[Key]:
    """The touched models and every model whose tables refer to one of them.

    Read from the state's relations (a referring model, or the model that
    declares a many-to-many field, whose auto-created table refers), the same
    with stand-ins as with rendered models (whose ``related_objects`` would
    add a parent's referrers to a child made by multi-table inheritance).
    """
    keys: set[Key] = set()
    relations = state.relations
    for key in list(state.models):
        if key[0] == app_label and (names is None or key[1] in names):
            keys.add(key)
            keys.update(relations.get(key, {}))
    return keys


def graph_order(loader: MigrationLoader) -> list[Migration]:
    """Every migration of the graph, in the order the executor applies them."""
    return history_order(loader)


def migration_deltas(
    loader: MigrationLoader,
    connection: Any,
    order: list[Migration] | None = None,
    *,
    render: bool = False,
) -> dict[Key, Delta]:
    """The effect of every migration of the graph, from one pass over it.

    No model is rendered (``render=True`` renders them as the executor does,
    for comparison: on a real project that is tens of thousands of renders).
    """
    from migration_guard.reconcile.schema.lightstate import LightApps

    backend = backend_for(connection)
    walk = StateWalk(loader, order=order)
    # stand-ins for the state's models, rebuilt as migrations change them
    # (rendering them as the executor does costs 20x more)
    apps = LightApps(walk.state, connection, backend, render=render)
    return {visit.key: _delta(visit, apps) for visit in walk}


def _delta(visit: Visit, apps: Any) -> Delta:
    """What the visited migration changes; moves the walk (and ``apps``) past it.

    A migration that separates database and state (``SeparateDatabaseAndState``,
    ``RunSQL`` with state operations) is walked operation by operation
    (:func:`migration_guard.reconcile.schema.split.split_changes`): its expected
    effect is the database operations', never the state operations'.
    """
    from migration_guard.reconcile.schema.split import split_changes, splits

    migration, state = visit.migration, visit.state
    app_label = migration.app_label
    delta = Delta(visit.key)
    delta.unverifiable = [op.describe() for op in code_operations(migration.operations)]
    names = touched_models(migration)
    if names is not None and not names:
        return delta
    touched = None if names is None else {(app_label, n) for n in names}
    if any(splits(operation) for operation in migration.operations):
        delta.changes = split_changes(visit, apps, names, touched)
        keys = _related(state, app_label, names)
    else:
        keys = _related(state, app_label, names)
        before = apps.tables(keys)
        visit.finish()
        apps.forget(touched)
        keys |= _related(state, app_label, names)
        delta.changes = diff(before, apps.tables(keys))
    delta.unverifiable += [
        f"model {a}.{m} cannot be described: {why}"
        for (a, m), why in sorted(apps.unsupported.items())
        if (a, m) in keys
    ]
    return delta
