"""The tables a plan can change: what a plan-scoped backup must hold.

Each operation names the tables it changes, read off the project state
before it (no model is rendered):

* the model's own table, and its auto-created many-to-many tables when the
  operation touches the model as a whole or that field;
* for ``DeleteModel``, ``RenameModel``, ``AlterModelTable`` and a change to a
  field other tables point at (a primary key, a unique target): the tables
  whose foreign keys or many-to-many tables point at the model, because the
  schema editor alters or drops their constraints (PostgreSQL's ``DROP TABLE``
  is ``CASCADE``);
* ``RunPython`` and ``RunSQL`` cannot be read: a migration declares what they
  write with ``migration_guard_writes`` (models as ``"app_label.ModelName"``,
  or table names), and a migration that does not makes the scope unbounded
  (a full backup), with the reason. So does an operation this module does not
  know (a third-party ``Operation`` subclass).

Every non-empty plan also writes ``django_migrations``, the ledger, and, once
``post_migrate`` has run, the content types and permissions of the apps that
have them installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as global_apps
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import truncate_name
from django.db.migrations import Migration, operations
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState

from migration_guard.exceptions import UsageError
from migration_guard.run.planning import Plan
from migration_guard.unwrap import database_operations
from migration_guard.walk import plan_walk

#: the attribute on a ``Migration`` that declares what its RunPython/RunSQL write
WRITES_ATTRIBUTE = "migration_guard_writes"

ModelKey = tuple[str, str]

#: operations that change nothing in the database
_STATE_ONLY = (operations.AlterModelOptions, operations.AlterModelManagers)
#: operations on one model's table, named by ``name``
_ON_MODEL = (
    operations.AlterUniqueTogether,
    operations.AlterIndexTogether,
    operations.AlterOrderWithRespectTo,
    operations.AlterModelTableComment,
)
#: operations on one model's table, named by ``model_name``
_ON_MODEL_NAME = (
    operations.AddIndex,
    operations.RemoveIndex,
    operations.RenameIndex,
    operations.AddConstraint,
    operations.RemoveConstraint,
)
#: operations that also change the tables pointing at the model
_WITH_REFERRERS = (
    operations.DeleteModel,
    operations.RenameModel,
    operations.AlterModelTable,
)
_FIELD_OPS = (
    operations.AddField,
    operations.RemoveField,
    operations.AlterField,
    operations.RenameField,
)


@dataclass(frozen=True)
class Scope:
    """The tables a plan can change, or why it can change anything."""

    tables: frozenset[str]
    #: why the whole database is in scope; empty when the scope is bounded
    unbounded: tuple[str, ...] = ()

    @property
    def full(self) -> bool:
        return bool(self.unbounded)


@dataclass
class _Collector:
    connection: BaseDatabaseWrapper
    tables: set[str] = field(default_factory=set)
    unbounded: list[str] = field(default_factory=list)
    #: table names declared by migrations or the setting, and by what
    #: (``"app.0002_x migration_guard_writes"``): they must exist
    declared: list[tuple[str, str]] = field(default_factory=list)

    def table(self, state: ProjectState, app: str, name: str) -> str:
        model = state.models.get((app, name.lower()))
        explicit = model.options.get("db_table") if model else None
        if explicit:
            return str(explicit)
        return truncate_name(f"{app}_{name.lower()}", self._max_length())

    def _max_length(self) -> int | None:
        length = self.connection.ops.max_name_length()
        return int(length) if length else None

    def m2m_table(
        self, own: str, app: str, state: ProjectState, field_name: str, fld: Any
    ) -> str:
        """The table of many-to-many field ``field_name`` of the model in ``own``."""
        if getattr(fld.remote_field, "through", None) and not _auto_through(fld):
            return self.table(state, *_split(fld.remote_field.through, app))
        if fld.db_table:
            return str(fld.db_table)
        return truncate_name(f"{own}_{field_name}", self._max_length())

    def model(self, state: ProjectState, app: str, name: str, *, whole: bool) -> None:
        own = self.table(state, app, name)
        self.tables.add(own)
        model = state.models.get((app, name.lower()))
        if whole and model is not None:
            for field_name, fld in _m2m_fields(model):
                self.tables.add(self.m2m_table(own, app, state, field_name, fld))

    def referrers(self, state: ProjectState, app: str, name: str) -> None:
        target = (app, name.lower())
        for (other_app, other), model in state.models.items():
            for field_name, fld in model.fields.items():
                remote = getattr(fld, "remote_field", None)
                if remote is None or _split(remote.model, other_app) != target:
                    continue
                own = self.table(state, other_app, other)
                self.tables.add(own)
                if fld.many_to_many:
                    self.tables.add(
                        self.m2m_table(own, other_app, state, field_name, fld)
                    )


def _split(reference: Any, app: str) -> ModelKey:
    """``"app.Model"`` (or ``"Model"`` in ``app``) -> ``("app", "model")``."""
    if not isinstance(reference, str):  # a model class
        return reference._meta.app_label, reference._meta.model_name
    label, _, name = reference.rpartition(".")
    return (label or app), name.lower()


def _auto_through(fld: Any) -> bool:
    through = fld.remote_field.through
    if isinstance(through, str):
        return False
    return bool(through is None or through._meta.auto_created)


def _m2m_fields(model: ModelState) -> list[tuple[str, Any]]:
    return [
        (name, f)
        for name, f in model.fields.items()
        if getattr(f, "many_to_many", False)
    ]


def _field(state: ProjectState, app: str, model: str, name: str) -> Any:
    model_state = state.models.get((app, model.lower()))
    return model_state.fields.get(name) if model_state else None


def _is_referenced(fld: Any) -> bool:
    return bool(fld is not None and (fld.primary_key or fld.unique))


def _field_op(c: _Collector, op: Any, app: str, state: ProjectState) -> None:
    own = c.table(state, app, op.model_name)
    c.tables.add(own)
    name = op.old_name if isinstance(op, operations.RenameField) else op.name
    for fld in (getattr(op, "field", None), _field(state, app, op.model_name, name)):
        if fld is not None and getattr(fld, "many_to_many", False):
            c.tables.add(c.m2m_table(own, app, state, name, fld))
        if _is_referenced(fld):
            c.referrers(state, app, op.model_name)
        if fld is not None and fld.primary_key:  # its own m2m tables follow it
            c.model(state, app, op.model_name, whole=True)


def _declared(
    c: _Collector, migration: Migration, state: ProjectState
) -> list[str] | None:
    writes = getattr(migration, WRITES_ATTRIBUTE, None)
    if writes is None:
        return None
    if isinstance(writes, str) or not isinstance(writes, Iterable):
        raise UsageError(
            f"{migration.app_label}.{migration.name}: {WRITES_ATTRIBUTE} must be a "
            f'list of "app_label.ModelName" or table names, not {writes!r}.'
        )
    tables = []
    for entry in writes:
        table = _declared_table(c, migration, state, str(entry))
        if table is not None:
            tables.append(table)
    return tables


def _declared_table(
    c: _Collector, migration: Migration, state: ProjectState, entry: str
) -> str | None:
    """The table of a declared model; None for a table name, which joins the
    scope once :func:`_check_declared` has found it."""
    if "." not in entry:
        c.declared.append(
            (entry, f"{migration.app_label}.{migration.name} {WRITES_ATTRIBUTE}")
        )
        return None
    app, name = _split(entry, migration.app_label)
    if (app, name) not in state.models:
        raise UsageError(
            f"{migration.app_label}.{migration.name}: {WRITES_ATTRIBUTE} names "
            f"{entry!r}, which is not a model at this point of the history. Name "
            f'models as "app_label.ModelName", or give the table name.'
        )
    return c.table(state, app, name)


def _code_op(
    c: _Collector, migration: Migration, index: int, op: Any, state: ProjectState
) -> None:
    declared = _declared(c, migration, state)
    if declared is None:
        c.unbounded.append(
            f"{migration.app_label}.{migration.name} operations[{index}] "
            f"{type(op).__name__} declares no tables it writes "
            f"({WRITES_ATTRIBUTE} on the migration)"
        )
    else:
        c.tables.update(declared)


#: the modules whose operation classes this module knows (a subclass defined
#: elsewhere may write any table: its ``database_forwards`` is its own)
_KNOWN_MODULES = ("django.db.migrations.operations.", "django.contrib.postgres.")


def _operation(
    c: _Collector, migration: Migration, index: int, op: Operation, state: ProjectState
) -> None:
    app = migration.app_label
    if not isinstance(op, operations.RunPython | operations.RunSQL) and not (
        type(op).__module__.startswith(_KNOWN_MODULES)
    ):
        _unknown(c, migration, index, op)
    elif type(op).__module__.startswith("django.contrib.postgres."):
        _postgres_op(c, migration, index, op, state)
    elif isinstance(op, operations.SeparateDatabaseAndState):
        for inner in database_operations(op):
            _operation(c, migration, index, inner, state)
    elif isinstance(op, operations.RunPython | operations.RunSQL):
        _code_op(c, migration, index, op, state)
    elif isinstance(op, _STATE_ONLY):
        return
    elif isinstance(op, _FIELD_OPS):
        _field_op(c, op, app, state)
    elif isinstance(op, operations.CreateModel):
        _create_model(c, op, app, state)
    elif isinstance(op, _ON_MODEL):
        c.model(state, app, op.name, whole=False)
    elif isinstance(op, _ON_MODEL_NAME):
        c.model(state, app, op.model_name, whole=False)
    elif isinstance(op, _WITH_REFERRERS):
        _model_with_referrers(c, op, app, state)
    else:
        _unknown(c, migration, index, op)


def _unknown(c: _Collector, migration: Migration, index: int, op: Operation) -> None:
    c.unbounded.append(
        f"{migration.app_label}.{migration.name} operations[{index}] "
        f"{type(op).__name__} is not an operation whose tables can be known"
    )


def _postgres_op(
    c: _Collector, migration: Migration, index: int, op: Any, state: ProjectState
) -> None:
    """``django.contrib.postgres.operations``: the index and constraint
    variants act on their model's table; extensions and collations on none."""
    name = type(op).__name__
    if hasattr(op, "model_name"):
        c.model(state, migration.app_label, op.model_name, whole=False)
    elif not name.endswith(("Extension", "Collation")):
        _unknown(c, migration, index, op)


def _create_model(c: _Collector, op: Any, app: str, state: ProjectState) -> None:
    """The model is not in the state yet: its table is read off the operation."""
    own = op.options.get("db_table") or c.table(state, app, op.name)
    c.tables.add(own)
    for field_name, fld in op.fields:
        if getattr(fld, "many_to_many", False):
            c.tables.add(c.m2m_table(own, app, state, field_name, fld))


def _model_with_referrers(
    c: _Collector, op: Any, app: str, state: ProjectState
) -> None:
    name = op.old_name if isinstance(op, operations.RenameModel) else op.name
    c.model(state, app, name, whole=True)
    c.referrers(state, app, name)
    if isinstance(op, operations.RenameModel):
        c.tables.add(c.table(state, app, op.new_name))
        own = c.table(state, app, op.new_name)
        for field_name, fld in _m2m_fields(state.models[(app, name.lower())]):
            c.tables.add(c.m2m_table(own, app, state, field_name, fld))
    elif isinstance(op, operations.AlterModelTable) and op.table:
        c.tables.add(str(op.table))  # its auto many-to-many tables are renamed too
        for field_name, fld in _m2m_fields(state.models[(app, name.lower())]):
            c.tables.add(c.m2m_table(str(op.table), app, state, field_name, fld))


def _always(connection: BaseDatabaseWrapper) -> set[str]:
    """What every run writes besides its migrations' own tables."""
    tables = {"django_migrations"}
    tables.update(
        m._meta.db_table
        for m in global_apps.get_app_config("migration_guard").get_models()
    )
    if global_apps.is_installed("django.contrib.contenttypes"):
        tables.add("django_content_type")
    if global_apps.is_installed("django.contrib.auth"):
        tables.add("auth_permission")
    return tables


def plan_scope(plan: Plan, connection: BaseDatabaseWrapper) -> Scope:
    """The tables ``plan`` can change on ``connection``'s database."""
    collector = _Collector(connection)
    if not plan.steps:
        return Scope(frozenset())
    wanted = set(plan.keys())
    for visit in plan_walk(plan):
        if visit.key in wanted:
            for index, (op, state) in enumerate(visit.operations()):
                _operation(collector, visit.migration, index, op, state)
    _post_migrate(collector)
    collector.tables |= _always(connection)
    return Scope(frozenset(collector.tables), tuple(collector.unbounded))


def _check_declared(c: _Collector) -> None:
    """A declared table name that neither exists nor is made by the plan is a
    typo: the table the code really writes would be left out."""
    with c.connection.cursor() as cursor:
        existing = set(c.connection.introspection.table_names(cursor))
    fold = str.lower if ignores_table_case(c.connection) else str
    known = {fold(t) for t in existing | c.tables}  # no declared name yet
    for table, declarer in c.declared:
        if fold(table) not in known:
            c.unbounded.append(
                f"{declarer} names table {table!r}, which neither exists nor is "
                "created by the plan"
            )
    c.tables.update(table for table, _ in c.declared)


def ignores_table_case(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``Shop_Order`` names the table ``shop_order``: always on SQLite;
    on MySQL/MariaDB only with ``lower_case_table_names`` 1 or 2 (0, the Linux
    default, compares table names as written, so another case is another,
    missing, table)."""
    if connection.vendor == "sqlite":
        return True
    if connection.vendor != "mysql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@lower_case_table_names")
        row = cursor.fetchone()
    return bool(row and int(row[0]))


def _post_migrate(c: _Collector) -> None:
    """What the receivers write after the run. The setting's tables are
    checked as a migration's declared ones are (after them, so the reasons
    keep the plan's order); the receivers' own tables join the scope after
    the check, so a table a receiver is known to write does not vouch for a
    declared one."""
    from migration_guard.backup.receivers import SETTING_NAME, post_migrate_writes

    writes = post_migrate_writes()
    c.declared += [
        (table, f"{SETTING_NAME}[{name!r}]") for table, name in writes.declared
    ]
    _check_declared(c)
    c.tables |= writes.tables
    for name in writes.unknown:
        c.unbounded.append(
            f"the post_migrate receiver {name} may write any table (declare the "
            f"tables it writes in {SETTING_NAME} under the key {name!r}, [] when "
            f"it writes none, or give the function a {WRITES_ATTRIBUTE} list)"
        )
