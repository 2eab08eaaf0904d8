"""Static checks of migration files, for system checks and ``checkmigrations``.

Three findings, each reported as a Django system check warning by
:func:`check_migrations` (``manage.py check``, and every command that runs
the checks) for the project's own apps:

* ``migration_guard.W010``: a ``RunPython`` without ``reverse_code`` or a
  ``RunSQL`` without ``reverse_sql``: the migration cannot be unapplied.
  ``RunPython.noop``/``RunSQL.noop`` say "nothing to undo" and pass;
* ``migration_guard.W011``: a migration that changes data (``RunPython``,
  ``RunSQL`` without ``state_operations``) and the schema: the two cannot be
  undone or retried apart, and on PostgreSQL an ``ALTER TABLE`` after an
  ``UPDATE`` of the same table in one transaction fails ("pending trigger
  events"). State-only operations (model options, managers, an ``AlterField``
  that changes no column) do not count;
* ``migration_guard.W012``: a ``RunPython`` function that uses the current models
  (imported from an app's ``models`` module, ``get_user_model()``) instead of
  ``apps.get_model()``: the code sees the fields of today's ``models.py``,
  which the table may not have at that point of the history. The function's
  bytecode is read (global names it loads, modules it imports, helpers of its
  own module it calls), so names bound by ``apps.get_model()`` never count.

A migration silences findings for itself with a class attribute::

    class Migration(migrations.Migration):
        migration_guard_silence = ["migration_guard.W010"]

and ``SILENCED_SYSTEM_CHECKS`` silences an id everywhere, as for any check.
"""

from __future__ import annotations

import dis
import importlib.util
import site
import sysconfig
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.core.checks import CheckMessage
from django.core.checks import Warning as CheckWarning
from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation

from migration_guard.unwrap import changes_column, database_operations, database_side

NO_REVERSE = "migration_guard.W010"
DATA_AND_SCHEMA = "migration_guard.W011"
CURRENT_MODELS = "migration_guard.W012"

SILENCE_ATTRIBUTE = "migration_guard_silence"
STATE_ONLY = (migrations.AlterModelOptions, migrations.AlterModelManagers)


@dataclass(frozen=True)
class Finding:
    """One problem of one migration; ``operation_index`` indexes ``operations``."""

    check_id: str
    app_label: str
    migration_name: str
    operation_index: int
    message: str
    hint: str
    silenced: bool = False

    @property
    def migration(self) -> str:
        return f"{self.app_label}.{self.migration_name}"


def lint(
    loader: MigrationLoader,
    app_labels: Iterable[str] | None = None,
    *,
    include_silenced: bool = False,
) -> list[Finding]:
    """Findings of every migration on disk of ``app_labels`` (default: all apps)."""
    wanted = None if app_labels is None else set(app_labels)
    linted = [
        loader.disk_migrations[key]
        for key in sorted(loader.disk_migrations)
        if wanted is None or key[0] in wanted
    ]
    columns = ColumnChanges(loader, linted)
    findings: list[Finding] = []
    for migration in linted:
        for finding in lint_migration(migration, columns):
            if include_silenced or not finding.silenced:
                findings.append(finding)
    return findings


#: a finding of one operation: (check id, message, hint)
Found = tuple[str, str, str]


def lint_migration(
    migration: migrations.Migration,
    loader: MigrationLoader | ColumnChanges | None = None,
) -> list[Finding]:
    """The findings of one migration, silenced ones marked as such.

    ``loader`` (with its graph) tells state-only ``AlterField`` operations
    from real ones; without it every ``AlterField`` counts as a schema change.
    """
    if isinstance(loader, MigrationLoader):
        loader = ColumnChanges(loader, [migration])
    found: list[tuple[int, Found]] = []
    data_ops: list[tuple[int, Operation]] = []
    others: list[tuple[int, Operation]] = []
    for index, operation in enumerate(migration.operations):
        for op in database_operations(operation):
            found += [(index, finding) for finding in _operation_findings(index, op)]
            (data_ops if is_data(op) else others).append((index, op))
    found += _data_and_schema(migration, loader, data_ops, others)
    silenced = silenced_ids(migration)
    return [
        Finding(
            check_id,
            migration.app_label,
            migration.name,
            index,
            message,
            hint,
            silenced=check_id in silenced,
        )
        for index, (check_id, message, hint) in found
    ]


def _operation_findings(index: int, op: Operation) -> Iterator[Found]:
    """What is wrong with one operation run on the database, on its own."""
    if isinstance(op, migrations.RunPython):
        if op.reverse_code is None:
            yield (
                NO_REVERSE,
                f"operations[{index}] {describe(op)} has no reverse_code: "
                "the migration cannot be unapplied.",
                "Pass reverse_code, a function that undoes it, or "
                "migrations.RunPython.noop when there is nothing to undo; "
                "or silence it for this migration with "
                f'{SILENCE_ATTRIBUTE} = ["{NO_REVERSE}"].',
            )
        for function in (op.code, op.reverse_code):
            if function is None or function is migrations.RunPython.noop:
                continue
            uses = current_model_uses(function)
            if uses:
                yield (
                    CURRENT_MODELS,
                    f"operations[{index}] {describe(op)}: "
                    f"{function_name(function)}() uses {', '.join(uses)} "
                    "instead of apps.get_model(): it sees today's models.py, "
                    "whose fields the table may not have at this point of "
                    "the history.",
                    "Inside the function, take the historical model: "
                    'Model = apps.get_model("app_label", "Model").',
                )
    elif isinstance(op, migrations.RunSQL) and op.reverse_sql is None:
        yield (
            NO_REVERSE,
            f"operations[{index}] {describe(op)} has no reverse_sql: the "
            "migration cannot be unapplied.",
            "Pass reverse_sql, the SQL that undoes it, or "
            "migrations.RunSQL.noop when there is nothing to undo; or "
            "silence it for this migration with "
            f'{SILENCE_ATTRIBUTE} = ["{NO_REVERSE}"].',
        )


def _data_and_schema(
    migration: migrations.Migration,
    columns: ColumnChanges | None,
    data_ops: list[tuple[int, Operation]],
    others: list[tuple[int, Operation]],
) -> list[tuple[int, Found]]:
    """The finding of a migration that changes both data and the schema."""
    if not data_ops:
        return []
    # the schema is looked at only next to data: AlterField may need a state
    schema = next(
        ((i, op) for i, op in others if changes_schema(op, migration, columns)), None
    )
    if schema is None:
        return []
    (data_index, data_op), (schema_index, schema_op) = data_ops[0], schema
    return [
        (
            data_index,
            (
                DATA_AND_SCHEMA,
                f"operations[{data_index}] {describe(data_op)} changes data and "
                f"operations[{schema_index}] {describe(schema_op)} changes the "
                "schema in the same migration: they cannot be undone or retried "
                "apart, and on PostgreSQL an ALTER TABLE after an UPDATE of the "
                "same table in one transaction fails ('pending trigger events').",
                "Put the schema change and the data change in migrations of their "
                "own (manage.py makedatamigration writes the data one).",
            ),
        )
    ]


def silenced_ids(migration: migrations.Migration) -> frozenset[str]:
    """The ids the migration silences with ``migration_guard_silence``."""
    value = getattr(migration, SILENCE_ATTRIBUTE, ())
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(str(item) for item in value)


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


def is_data(op: Operation) -> bool:
    if isinstance(op, migrations.RunPython):
        return True
    return isinstance(op, migrations.RunSQL) and not op.state_operations


def changes_schema(
    op: Operation, migration: migrations.Migration, columns: ColumnChanges | None
) -> bool:
    if isinstance(op, migrations.RunPython | migrations.RunSQL):
        return isinstance(op, migrations.RunSQL) and bool(op.state_operations)
    if isinstance(op, STATE_ONLY):
        return False
    if isinstance(op, migrations.AlterField) and columns is not None:
        return columns.alters_column(op, migration)
    return True


class ColumnChanges:
    """Whether each ``AlterField`` of some migrations changes its column.

    The schema editor decides from the field before the migration: the
    states come from the one walk (:class:`migration_guard.walk.StateWalk`),
    taken once, at the first question, and only to the migrations that mix
    data and an ``AlterField`` (the only ones :data:`DATA_AND_SCHEMA` asks
    about).
    """

    def __init__(
        self, loader: MigrationLoader, linted: Iterable[migrations.Migration]
    ) -> None:
        self.loader = loader
        self.wanted = {
            (m.app_label, m.name)
            for m in linted
            if (m.app_label, m.name) in loader.graph.nodes and _data_and_alter(m)
        }
        self._changes: dict[tuple[str, str, int], bool] | None = None

    def alters_column(
        self, op: migrations.AlterField, migration: migrations.Migration
    ) -> bool:
        """Whether ``op``, an ``AlterField`` of ``migration``, changes the column."""
        if self._changes is None:
            self._changes = self._walk()
        return self._changes.get((migration.app_label, migration.name, id(op)), True)

    def _walk(self) -> dict[tuple[str, str, int], bool]:
        from migration_guard.walk import StateWalk

        changes = {}
        for visit in StateWalk(self.loader, until=self.wanted):
            if visit.key not in self.wanted:
                continue
            app_label = visit.migration.app_label
            for op in database_side(visit.migration.operations):
                if isinstance(op, migrations.AlterField):
                    model = visit.state.models.get((app_label, op.model_name_lower))
                    old = None if model is None else model.fields.get(op.name)
                    changes[(*visit.key, id(op))] = old is None or changes_column(
                        old, op.field
                    )
        return changes


def _data_and_alter(migration: migrations.Migration) -> bool:
    """Whether the migration changes data and has an ``AlterField``."""
    ops = list(database_side(migration.operations))
    return any(map(is_data, ops)) and any(
        isinstance(op, migrations.AlterField) for op in ops
    )


def describe(op: Operation) -> str:
    name = type(op).__name__
    if isinstance(op, migrations.RunPython):
        return f"{name}({function_name(op.code)})"
    model = getattr(op, "model_name", None) or getattr(op, "name", None)
    field = getattr(op, "name", None) if hasattr(op, "model_name") else None
    if model and field:
        return f"{name}({model}.{field})"
    if model:
        return f"{name}({model})"
    return name


def function_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


# ---------------------------------------------------------------------------
# Current models in RunPython code
# ---------------------------------------------------------------------------


def current_model_uses(function: Callable[..., Any]) -> list[str]:
    """What ``function`` reaches of the current models, described.

    Reads the bytecode of the function, of the functions nested in it and of
    the functions of its own module that it calls: global names it loads that
    are current model classes, an app's ``models`` module or
    ``get_user_model``, and imports of an app's ``models`` module.
    """
    models_modules = _models_modules()
    found: list[str] = []
    seen: set[int] = set()
    home = getattr(function, "__module__", None)

    def visit(func: Any, chain: tuple[str, ...]) -> None:
        def note(text: str) -> None:
            if chain:
                text += f" (in {chain[-1]}())"
            if text not in found:
                found.append(text)

        code = getattr(func, "__code__", None)
        if code is None or id(code) in seen:
            return
        seen.add(id(code))
        namespace: dict[str, Any] = getattr(func, "__globals__", {})
        package = namespace.get("__package__") or ""
        for inner in _code_objects(code):
            instructions = list(dis.get_instructions(inner))
            importing = None
            for position, ins in enumerate(instructions):
                if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                    name = str(ins.argval)
                    if name not in namespace:
                        continue
                    value = namespace[name]
                    what = _describe_value(value, models_modules)
                    if what:
                        note(what)
                    elif (
                        isinstance(value, types.FunctionType)
                        and value.__module__ == home
                    ):
                        visit(value, (*chain, value.__name__))
                elif ins.opname == "IMPORT_NAME":
                    level = _import_level(instructions, position)
                    importing = _resolve(str(ins.argval), level, package)
                    if importing and _is_models_module(importing, models_modules):
                        note(f"an import of {importing}")
                elif ins.opname == "IMPORT_FROM" and importing:
                    full = f"{importing}.{ins.argval}"
                    if _is_models_module(full, models_modules):
                        note(f"an import of {full}")

    visit(function, ())
    return found


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _import_level(instructions: Sequence[dis.Instruction], position: int) -> int:
    """IMPORT_NAME follows LOAD_CONST level, LOAD_CONST fromlist."""
    if position >= 2:
        candidate = instructions[position - 2]
        if candidate.opname in ("LOAD_CONST", "LOAD_SMALL_INT") and isinstance(
            candidate.argval, int
        ):
            return candidate.argval
    return 0


def _resolve(name: str, level: int, package: str) -> str | None:
    if level == 0:
        return name
    try:
        return importlib.util.resolve_name("." * level + name, package)
    except (ImportError, ValueError):
        return None


def _models_modules() -> set[str]:
    return {
        config.models_module.__name__
        for config in global_apps.get_app_configs()
        if config.models_module is not None
    }


def _is_models_module(name: str, models_modules: set[str]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in models_modules)


def _describe_value(value: Any, models_modules: set[str]) -> str | None:
    meta = getattr(value, "_meta", None) if isinstance(value, type) else None
    if meta is not None and getattr(meta, "apps", None) is global_apps:
        return f"the current model {meta.label}"
    if isinstance(value, types.ModuleType) and _is_models_module(
        value.__name__, models_modules
    ):
        return f"the module {value.__name__}"
    if global_apps.is_installed("django.contrib.auth"):
        from django.contrib.auth import get_user_model

        if value is get_user_model:
            return "get_user_model() (the current user model)"
    return None


# ---------------------------------------------------------------------------
# The system check
# ---------------------------------------------------------------------------


def _library_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(getattr(site, "getsitepackages", list)())
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if user_site:
        roots.add(user_site)
    return [Path(root).resolve() for root in roots if root]


def is_project_app(config: AppConfig) -> bool:
    """An app of the project itself: not Django's, not installed from a package."""
    if config.name == "django" or config.name.startswith("django."):
        return False
    path = Path(config.path).resolve()
    return not any(path.is_relative_to(root) for root in _library_roots())


def check_migrations(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W010-W012 for the migrations of the project's own apps.

    Registered by :mod:`migration_guard.checks`, tagged ``database`` so that it
    runs where migrations matter and are loaded anyway (``migrate`` and
    ``guardedmigrate`` check their database, as does ``check --database``), not
    before every ``runserver`` or ``shell``: it imports every migration module
    (0.3 s at 300 migrations). As Django's own database checks do, it finds
    nothing when no database is being checked.
    """
    if not kwargs.get("databases"):
        return []
    configs = (
        app_configs
        if app_configs is not None
        else [c for c in global_apps.get_app_configs() if is_project_app(c)]
    )
    labels = {config.label for config in configs}
    if not labels:
        return []
    try:
        loader = MigrationLoader(None, ignore_no_migrations=True)
    except Exception:  # broken migration files: migrate reports them itself
        return []
    return [
        CheckWarning(
            finding.message,
            hint=finding.hint,
            obj=finding.migration,
            id=finding.check_id,
        )
        for finding in lint(loader, labels)
    ]
