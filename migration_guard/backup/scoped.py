"""Plan-scoped backups: what they hold, when one is taken, when one may be restored.

A plan-scoped backup holds the tables a plan can change
(:func:`~migration_guard.backup.plan_scope.plan_scope`), not the whole
database. Its manifest records:

* ``scope``: every table of the plan's scope, including the ones the plan
  creates (a restore drops those that exist by then);
* ``scope_tables``: those of them that existed, which the file holds;
* ``relations``: the foreign keys between those tables and the rest of the
  database, as the catalog reported them.

A restore replaces only the scope's tables, so it is refused
(:class:`~migration_guard.exceptions.VerificationRefused`, exit 4) when the
rest of the database no longer relates to them as it did: a table outside
the scope whose foreign key into the scope appeared, vanished or changed
would be left pointing at what the backup does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup import relations as relations_module
from migration_guard.conf import BACKUP_SCOPE_CHOICES
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import UsageError, VerificationRefused

if TYPE_CHECKING:
    from migration_guard.backup.storage import Manifest
    from migration_guard.run.planning import Plan

Relation = dict[str, str]


@dataclass(frozen=True)
class TableScope:
    """The tables a scoped backup covers."""

    #: every table the plan can change, those it creates included
    planned: tuple[str, ...]
    #: those that existed when the backup was taken: what its file holds
    present: tuple[str, ...]

    @property
    def created(self) -> tuple[str, ...]:
        """The scope's tables the backup does not hold: a restore drops them."""
        present = set(self.present)
        return tuple(t for t in self.planned if t not in present)


@dataclass(frozen=True)
class Choice:
    """What a pre-run backup holds: ``tables`` (None: everything), and why."""

    tables: frozenset[str] | None
    note: str = ""


def choose(
    mode: str | None, plan: Plan, alias: str, *, run_syncdb: bool = False
) -> Choice:
    """The scope of the backup of ``plan`` on ``alias`` under ``mode``
    (``BACKUP_SCOPE`` when None): the plan's tables or the whole database.

    ``run_syncdb``: the run creates the tables of unmigrated apps, which no
    operation of the plan names, so the backup is of the whole database.
    """
    mode = mode or conf.BACKUP_SCOPE
    if mode not in BACKUP_SCOPE_CHOICES:
        raise UsageError(
            f"MIGRATION_GUARD['BACKUP_SCOPE'] is {mode!r}; use one of "
            f"{', '.join(BACKUP_SCOPE_CHOICES)}."
        )
    if mode == "full":
        return Choice(None)
    connection = connections[alias]
    if mode == "auto":
        threshold = conf.BACKUP_SCOPE_THRESHOLD
        if threshold is None or database_size(connection) <= threshold:
            return Choice(None)
    from migration_guard.backup.base import backend_for
    from migration_guard.backup.plan_scope import plan_scope

    backend = backend_for(connection)
    if not backend.scoped:
        return Choice(None, f"the {connection.vendor} backend backs up whole databases")
    if not plan.steps:
        return Choice(None, "the run applies no migration, so no plan names its tables")
    if run_syncdb:
        return Choice(None, "--run-syncdb creates tables that no migration names")
    scope = plan_scope(plan, connection)
    if scope.full:
        return Choice(None, "; ".join(scope.unbounded))
    tables = catalog_spelling(connection, scope.tables)
    present = existing(connection, tables)
    if not present:
        return Choice(None, "none of the plan's tables exists yet")
    problems = backend.scope_problems(present)
    if problems:
        return Choice(None, "; ".join(problems))
    return Choice(tables)


def catalog_spelling(
    connection: BaseDatabaseWrapper, tables: Iterable[str]
) -> frozenset[str]:
    """``tables`` as the catalog spells them where the database ignores case
    in table names (SQLite; MySQL/MariaDB with ``lower_case_table_names`` 1
    or 2): a table declared ``Shop_Order`` is shop_order."""
    from migration_guard.backup.plan_scope import ignores_table_case

    if not ignores_table_case(connection):
        return frozenset(tables)
    with connection.cursor() as cursor:
        names = {
            info.name.lower(): info.name
            for info in connection.introspection.get_table_list(cursor)
        }
    return frozenset(names.get(t.lower(), t) for t in tables)


def database_size(connection: BaseDatabaseWrapper) -> int:
    """The database's size on disk in bytes, from the catalog (no scan)."""
    queries = {
        "postgresql": "SELECT pg_database_size(current_database())",
        "mysql": "SELECT COALESCE(SUM(data_length + index_length), 0) "
        "FROM information_schema.tables WHERE table_schema = DATABASE()",
        "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), "
        "pragma_page_size()",
    }
    query = queries.get(connection.vendor)
    if query is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def existing(connection: BaseDatabaseWrapper, tables: Iterable[str]) -> tuple[str, ...]:
    """Those of ``tables`` that exist (tables, not views), sorted."""
    with connection.cursor() as cursor:
        names = {
            info.name
            for info in connection.introspection.get_table_list(cursor)
            if info.type == "t"
        }
    return tuple(sorted(set(tables) & names))


def record(
    manifest: Manifest, connection: BaseDatabaseWrapper, planned: Iterable[str]
) -> TableScope:
    """Fill ``manifest``'s scope from the database as it is now."""
    scope = TableScope(tuple(sorted(planned)), existing(connection, planned))
    manifest.scope = list(scope.planned)
    manifest.scope_tables = list(scope.present)
    manifest.relations = relations_module.outside(connection, scope.planned)
    return scope


def of_manifest(manifest: Manifest) -> TableScope | None:
    """The scope of ``manifest``'s backup; None for a whole-database backup."""
    if not manifest.scope:
        return None
    return TableScope(tuple(manifest.scope), tuple(manifest.scope_tables))


def check_relations(alias: str, manifest: Manifest) -> None:
    """Refuse (exit 4) a scoped restore that the rest of the database no
    longer fits.

    The foreign keys of other tables into the scope must be those recorded
    (they survive the restore, and one into a table the plan created would
    be left dangling); the tables and columns the scope's own foreign keys
    point at must still exist (the restore creates those keys again).
    """
    scope = of_manifest(manifest)
    if scope is None:
        return
    check_manifest(manifest, scope)
    connection = connections[alias]
    planned = set(scope.planned)
    inbound = [
        r
        for r in relations_module.outside(connection, scope.planned)
        if r["table"] not in planned
    ]
    recorded = [r for r in manifest.relations if r["table"] not in planned]
    lines = [
        f"{relations_module.describe(r)} is gone" for r in recorded if r not in inbound
    ]
    lines += [
        f"{relations_module.describe(r)} is new" for r in inbound if r not in recorded
    ]
    lines += _missing_targets(connection, manifest.relations, planned)
    if not lines:
        _check_dependents(alias, manifest, scope)
        return
    raise VerificationRefused(
        f"Backup {manifest.id} holds only the tables of its plan "
        f"({len(scope.present)}), and the rest of database '{alias}' no longer "
        f"relates to them as when it was taken: {'; '.join(lines[:5])}"
        + (f" (and {len(lines) - 5} more)" if len(lines) > 5 else "")
        + ". Nothing was changed. Restore a full backup, or put the "
        "relations back as they were."
    )


def check_manifest(manifest: Manifest, scope: TableScope) -> None:
    """Refuse (exit 4) a scoped manifest whose ``scope_tables`` are not the
    tables its file holds (``rows``, which the full check of the file
    compares with the file) or not within its ``scope``: its restore would
    drop tables it cannot create again."""
    present = set(scope.present)
    held = {table.split(".")[-1] for table in manifest.rows}
    problems = []
    if not present:
        problems.append("lists no table")
    if present - set(scope.planned):
        problems.append(
            f"name {', '.join(sorted(present - set(scope.planned)))}, not in its scope"
        )
    if held != present:
        problems.append(
            f"are not the tables whose rows it records ({', '.join(sorted(held))})"
        )
    if problems:
        raise VerificationRefused(
            f"Backup {manifest.id}: its manifest's scope_tables "
            f"({', '.join(sorted(present))}) {'; '.join(problems)}. The manifest "
            "was altered; nothing was changed."
        )


def _check_dependents(alias: str, manifest: Manifest, scope: TableScope) -> None:
    """Refuse (exit 4) a scoped restore that would drop more than the scope's
    tables now (a view over one of them made since the backup, say)."""
    from migration_guard.backup.base import backend_for

    connection = connections[alias]
    problems = backend_for(connection).scope_problems(
        existing(connection, scope.planned)
    )
    if problems:
        raise VerificationRefused(
            f"Backup {manifest.id} holds only the tables of its plan, and "
            f"restoring them into database '{alias}' would drop more: "
            f"{'; '.join(problems[:5])}. Nothing was changed. Restore a full "
            "backup, or remove what depends on those tables."
        )


def _missing_targets(
    connection: BaseDatabaseWrapper, relations: list[Relation], planned: set[str]
) -> list[str]:
    """The outside tables or columns the scope's foreign keys point at that are gone."""
    wanted: dict[str, set[str]] = {}
    for r in relations:
        if r["table"] in planned:
            wanted.setdefault(r["referenced_table"], set()).update(
                r["referenced_columns"].split(",")
            )
    found = set(existing(connection, wanted))
    missing = []
    with connection.cursor() as cursor:
        for table, columns in sorted(wanted.items()):
            if table not in found:
                missing.append(
                    f"table {table}, which the backup's foreign keys point at, is gone"
                )
                continue
            have = {
                c.name
                for c in connection.introspection.get_table_description(cursor, table)
            }
            for column in sorted(columns - have - {""}):
                missing.append(
                    f"column {table}.{column}, which the backup's foreign keys "
                    "point at, is gone"
                )
    return missing


def describe_scope(tables: Sequence[str]) -> str:
    """``3 tables: a, b, c`` for notes and messages."""
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return f"{len(tables)} table{'s' * (len(tables) != 1)}: {shown}"
