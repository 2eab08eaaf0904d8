"""Checksums of applied migrations: was a migration edited after it ran?

A migration's *operations checksum* is taken over its operations as Django
deconstructs and serializes them (the text ``makemigrations`` would write),
plus the syntax tree of the functions a ``RunPython`` calls; reformatting,
comments, docstrings and import order do not change it. The *file checksum*
is over the file's bytes, so a reformatted file is told apart from an edited
one.

``safemigrate`` stores both with each migration it applies or fakes (in the
ledger entry of the migration); :func:`edited_migrations` compares them with
the files on disk, and :func:`accept` records a new checksum with an audit
entry when an edit was deliberate.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.serializer import serializer_factory

Key = tuple[str, str]


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
    for operation in operations:
        if isinstance(operation, ops.RunPython):
            yield _code_digest(operation.code)
            yield _code_digest(operation.reverse_code)
        elif isinstance(operation, ops.SeparateDatabaseAndState):
            yield from _code_of(operation.database_operations)


def normalized(operation: Any) -> str:
    """The operation as ``makemigrations`` would write it, and its code."""
    text, _imports = serializer_factory(operation).serialize()
    return "\n".join([text, *_code_of([operation])])


def _sha(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def migration_path(migration: Migration) -> str:
    module = sys.modules.get(type(migration).__module__)
    return str(getattr(module, "__file__", "") or "")


def checksum(migration: Migration) -> Checksum:
    each = tuple(_sha(normalized(operation)) for operation in migration.operations)
    path = migration_path(migration)
    try:
        file_digest = _sha(Path(path).read_bytes()) if path else ""
    except OSError:
        file_digest = ""
    return Checksum(
        operations=_sha("\n".join(each)),
        file=file_digest,
        each=each,
        described=tuple(_describe(operation) for operation in migration.operations),
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
    from safemigrate import ledger
    from safemigrate.models import MigrationRun, Outcome

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
    """Applied migrations whose file or operations changed since they ran."""
    recorded = recorded_checksums(alias)
    edits = []
    for key in sorted(loader.applied_migrations):
        before = recorded.get(key)
        migration = loader.disk_migrations.get(key)
        if before is None or migration is None:
            continue  # applied before safemigrate, or the file is gone
        now = checksum(migration)
        if now.operations == before.operations and now.file == before.file:
            continue
        edit = Edit(key[0], key[1], migration_path(migration), before, now)
        edit.changed = differing_operations(before, now)
        edits.append(edit)
    return edits


def accept(alias: str, app_label: str, name: str, reason: str, argv: list[str]) -> Edit:
    """Record the current checksum of an edited applied migration, audited."""
    from safemigrate import ledger
    from safemigrate.exceptions import UsageError
    from safemigrate.models import Outcome
    from safemigrate.planning import load, resolve_migration

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
    run = ledger.start_run(
        alias,
        command="checkmigrations --accept",
        direction="none",
        plan=[],
        applied_before=sorted(f"{a}.{n}" for a, n in loader.applied_migrations),
        argv=argv,
    )
    ledger.finish_run(
        run,
        Outcome.SUCCESS,
        executed=[
            {
                "app": key[0],
                "name": key[1],
                "action": "accepted",
                "reason": reason,
                "previous": edit.recorded.as_json(),
                "checksum": edit.current.as_json(),
                "changed": edit.changed,
            }
        ],
    )
    return edit
