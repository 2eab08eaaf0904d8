"""Checksums of applied migrations: was a migration edited after it ran?

A migration's *operations checksum* is taken over its operations as Django
deconstructs and serializes them (the text ``makemigrations`` would write),
plus the syntax tree of the functions a ``RunPython`` calls; reformatting,
comments, docstrings and import order do not change it. The *file checksum*
is over the file's bytes, so a reformatted file is told apart from an edited
one.

``guardedmigrate`` stores both with each migration it applies or fakes (in the
ledger entry of the migration); :func:`edited_migrations` compares them with
the files on disk, and :func:`accept` records a new checksum with an audit
entry when an edit was deliberate.

Both are of what the file defines (:func:`as_defined`), the same in every
process: never the objects a run used (signal handlers and Django's state
change them), sets and dicts in sorted order, lazy translations untranslated.
Left out: what has no stable text (an object whose repr is its address counts
by its type, a lambda by its name), and anything a file with unchanged bytes
reads at import (settings, other modules): such a file is not edited.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import hashlib
import inspect
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.serializer import serializer_factory
from django.utils import translation

from migration_guard.run.planning import Key
from migration_guard.unwrap import database_side


@dataclass(frozen=True)
class Checksum:
    operations: str
    file: str
    #: one digest per operation, and what each operation is, for messages
    each: tuple[str, ...] = ()
    described: tuple[str, ...] = field(default=(), compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "file": self.file,
            "each": list(self.each),
            "described": list(self.described),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checksum:
        return cls(
            data["operations"],
            data.get("file", ""),
            tuple(data.get("each", ())),
            tuple(data.get("described", ())),
        )


def _syntax(node: Any) -> str:
    """A syntax tree as text, without positions, empty fields or docstrings."""
    if isinstance(node, ast.AST):
        body = getattr(node, "body", None)
        parts = []
        for name, value in ast.iter_fields(node):
            if name == "body" and isinstance(body, list) and _docstring(body):
                value = body[1:]
            if value is None or value == []:
                continue
            parts.append(f"{name}={_syntax(value)}")
        return f"{type(node).__name__}({','.join(parts)})"
    if isinstance(node, list):
        return "[" + ",".join(_syntax(item) for item in node) + "]"
    return repr(node)


def _docstring(body: list[Any]) -> bool:
    first = body[0] if body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _code_digest(function: Callable[..., Any] | None) -> str:
    """What a RunPython function does, as its syntax tree (or its name)."""
    if function is None:
        return "None"
    name = (
        f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"
    )
    try:
        source = textwrap.dedent(inspect.getsource(function))
        return name + ":" + _syntax(ast.parse(source))
    except (OSError, TypeError, SyntaxError):
        return name


def _code_of(operations: Iterable[Any]) -> Iterator[str]:
    for operation in database_side(operations):
        if isinstance(operation, ops.RunPython):
            yield _code_digest(operation.code)
            yield _code_digest(operation.reverse_code)


def normalized(operation: Any) -> str:
    """The operation as ``makemigrations`` would write it, and its code.

    Lazy translations are taken untranslated (the text in the file, not the
    active language's). A value Django cannot serialize is written by
    :func:`_fallback`, which leaves out what has no stable text.
    """
    with translation.override(None):
        try:
            text = serializer_factory(operation).serialize()[0]
        except Exception:  # a hand-written value makemigrations could not write
            text = _fallback(operation)
    return "\n".join([text, *_code_of([operation])])


def _fallback(value: Any) -> str:
    """Text for a value Django's serializer refuses, stable across processes.

    Containers and deconstructible objects are walked (sets and dicts in
    sorted order); what is left, an object with no stable text (its repr
    holds an address), is written as its type only: left out of the checksum.
    """
    try:
        return str(serializer_factory(value).serialize()[0])
    except Exception:  # written below from its parts
        pass
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fallback(item) for item in value) + "]"
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(_fallback(item) for item in value)) + "}"
    if isinstance(value, dict):
        pairs = sorted(f"{_fallback(k)}: {_fallback(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    qualname = str(getattr(value, "__qualname__", ""))
    if callable(value) and qualname:
        return f"{getattr(value, '__module__', '')}.{qualname}"
    kind = type(value)
    deconstruct = getattr(value, "deconstruct", None)
    if deconstruct is not None and not isinstance(value, type):
        with contextlib.suppress(Exception):
            path, args, kwargs = deconstruct()[-3:]
            return f"{path}({_fallback(list(args))}, {_fallback(kwargs)})"
    return f"<{kind.__module__}.{kind.__qualname__}>"


def _sha(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def migration_path(migration: Migration) -> str:
    module = sys.modules.get(type(migration).__module__)
    return str(getattr(module, "__file__", "") or "")


def as_defined(migration: Migration) -> list[Any]:
    """The operations the migration's file defines, from a fresh load of it.

    Not ``migration.operations``: those objects are changed at run time,
    after the file was read. ``contenttypes``' ``pre_migrate`` handler inserts
    a ``RenameContentType`` after each ``RenameModel`` of a planned migration,
    and ``ProjectState.rename_field`` rewrites the ``to_field`` of foreign
    keys that earlier operations hold. The module's code (from its ``.pyc``
    when fresh) runs again in a namespace of its own, outside
    ``sys.modules``, with the model registry kept as it was; when that fails,
    the class's own list is used.
    """
    module = sys.modules.get(type(migration).__module__)
    spec = getattr(module, "__spec__", None)
    get_code = getattr(getattr(spec, "loader", None), "get_code", None)
    if module is not None and spec is not None and get_code is not None:
        namespace = {
            "__name__": module.__name__,
            "__file__": getattr(module, "__file__", None),
            "__package__": module.__package__,
            "__spec__": spec,
            "__builtins__": builtins,
        }
        registered = {label: dict(models) for label, models in apps.all_models.items()}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(get_code(module.__name__), namespace)
            fresh = namespace[type(migration).__name__](
                migration.name, migration.app_label
            )
            return list(fresh.operations)
        except Exception:  # the class's own list below
            pass
        finally:
            _restore_registry(registered)
    return list(type(migration).operations)


def _restore_registry(registered: dict[str, dict[str, Any]]) -> None:
    """Undo model classes a migration module registered when it ran again."""
    now = {label: dict(models) for label, models in apps.all_models.items()}
    if now == registered:
        return
    for label, models in apps.all_models.items():
        models.clear()
        models.update(registered.get(label, {}))
    apps.clear_cache()


def checksum(migration: Migration) -> Checksum:
    """The checksum of what ``migration``'s file defines (:func:`as_defined`)."""
    operations = as_defined(migration)
    each = tuple(_sha(normalized(operation)) for operation in operations)
    path = migration_path(migration)
    try:
        file_digest = _sha(Path(path).read_bytes()) if path else ""
    except OSError:
        file_digest = ""
    return Checksum(
        operations=_sha("\n".join(each)),
        file=file_digest,
        each=each,
        described=tuple(_describe(operation) for operation in operations),
    )


def _describe(operation: Any) -> str:
    try:
        return str(operation.describe())
    except Exception:  # a third-party operation's describe() may need a state
        return type(operation).__name__


@dataclass
class Edit:
    app_label: str
    name: str
    path: str
    recorded: Checksum
    current: Checksum
    changed: list[str] = field(default_factory=list)
    #: the ledger run that accepted it (``accept``)
    run: Any = None

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def operations_changed(self) -> bool:
        return self.recorded.operations != self.current.operations

    def message(self) -> str:
        if not self.operations_changed:
            return (
                f"{self.label} ({self.path}): the file changed since it was "
                "applied, its operations did not (reformatted or comments)."
            )
        return (
            f"{self.label} ({self.path}) was edited after it was applied: "
            + "; ".join(self.changed)
            + "."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app_label,
            "name": self.name,
            "path": self.path,
            "operations_changed": self.operations_changed,
            "changed": self.changed,
            "recorded": self.recorded.operations,
            "current": self.current.operations,
            "message": self.message(),
        }


def differing_operations(recorded: Checksum, current: Checksum) -> list[str]:
    """Each operation that differs, named by position and what it does."""

    def was(index: int) -> str:
        if index < len(recorded.described):
            return recorded.described[index]
        return "an operation"

    matcher = difflib.SequenceMatcher(a=recorded.each, b=current.each, autojunk=False)
    changed = []
    for tag, a_lo, a_hi, b_lo, b_hi in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(a_hi - a_lo, b_hi - b_lo) if tag == "replace" else 0
        for offset in range(paired):
            index = b_lo + offset
            changed.append(
                f"operation {index + 1} ({current.described[index]}) changed"
                + (
                    f", was: {was(a_lo + offset)}"
                    if was(a_lo + offset) != current.described[index]
                    else ""
                )
            )
        for index in range(b_lo + paired, b_hi):
            changed.append(f"operation {index + 1} ({current.described[index]}) added")
        for index in range(a_lo + paired, a_hi):
            changed.append(
                f"operation {index + 1} of the applied file ({was(index)}) removed"
            )
    return changed


def recorded_checksums(alias: str) -> dict[Key, Checksum]:
    """The checksum of each migration as last applied or accepted (ledger)."""
    from migration_guard.models import MigrationRun, Outcome
    from migration_guard.run import ledger

    if not ledger.has_table(alias):
        return {}
    recorded: dict[Key, Checksum] = {}
    runs = (
        MigrationRun.objects.using(alias)
        .filter(alias=alias)
        .exclude(outcome=Outcome.RESTORED)  # the restore undid what it executed
        .order_by("started_at", "id")
        .values_list("executed", flat=True)
    )
    for executed in runs:
        for entry in executed or ():
            key = (entry.get("app"), entry.get("name"))
            if entry.get("action") in ("applied", "accepted") and entry.get("checksum"):
                recorded[key] = Checksum.from_json(entry["checksum"])
            elif entry.get("action") == "unapplied":
                recorded.pop(key, None)
    return recorded


def edited_migrations(alias: str, loader: MigrationLoader) -> list[Edit]:
    """Applied migrations whose file changed since they ran.

    A file with the bytes it had when applied is not edited, whatever its
    operations evaluate to now (a setting or another module it reads at
    import): that is not the file's doing. Where no file digest exists (a
    module without a file), the operations alone decide.
    """
    recorded = recorded_checksums(alias)
    edits = []
    for key in sorted(loader.applied_migrations):
        before = recorded.get(key)
        migration = loader.disk_migrations.get(key)
        if before is None or migration is None:
            continue  # applied before migration_guard, or the file is gone
        now = checksum(migration)
        if before.file and now.file == before.file:
            continue  # the very file that was applied: not edited
        if now.operations == before.operations and now.file == before.file:
            continue
        edit = Edit(key[0], key[1], migration_path(migration), before, now)
        edit.changed = differing_operations(before, now)
        edits.append(edit)
    return edits


def accept(alias: str, app_label: str, name: str, reason: str, argv: list[str]) -> Edit:
    """Record the current checksum of an edited applied migration, audited."""
    from migration_guard.exceptions import UsageError
    from migration_guard.run import ledger
    from migration_guard.run.planning import load, resolve_migration

    if not reason.strip():
        raise UsageError("--accept needs --reason TEXT, which the ledger keeps.")
    loader = load(alias).loader
    if app_label not in loader.migrated_apps:
        raise UsageError(
            f"App '{app_label}' does not have migrations. Apps with migrations: "
            f"{', '.join(sorted(loader.migrated_apps))}."
        )
    key = resolve_migration(loader, app_label, name, zero=False)
    label = f"{key[0]}.{key[1]}"
    if key not in loader.applied_migrations:
        raise UsageError(
            f"{label} is not applied on database '{alias}': there is no "
            "recorded checksum to replace."
        )
    edit = next(
        (e for e in edited_migrations(alias, loader) if (e.app_label, e.name) == key),
        None,
    )
    if edit is None:
        raise UsageError(
            f"{label} matches the checksum recorded when it was applied (or none "
            "was recorded): there is nothing to accept."
        )
    with ledger.recorded(
        ledger.start_run(
            alias,
            command="checkmigrations --accept",
            direction="none",
            plan=[],
            applied_before=sorted(f"{a}.{n}" for a, n in loader.applied_migrations),
            argv=argv,
        )
    ) as recording:
        recording.executed.append(
            ledger.entry(
                key[0],
                key[1],
                "accepted",
                reason=reason,
                previous=edit.recorded.as_json(),
                checksum=edit.current.as_json(),
                changed=edit.changed,
            )
        )
    run = recording.run
    edit.run = run
    return edit
