"""Writing the ledger (:class:`~migration_guard.models.MigrationRun`) of a database.

The ledger table lives in the database being migrated, like
``django_migrations``. It must work on a first deploy, before migration_guard's
own migration has run: :func:`ensure_table` creates it from the model when it
is missing, and that migration creates it only when it is missing.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import django
from django.core.management.color import no_style
from django.db import DatabaseError, connections, models, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

import migration_guard
from migration_guard.backup.logpos import read_position
from migration_guard.models import MigrationRun, Outcome


def create_table_if_missing(
    model: type[models.Model], schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Create ``model``'s table unless the database already has it."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    if model._meta.db_table not in tables:
        schema_editor.create_model(model)


def ensure_table(alias: str) -> None:
    """Make sure the ledger table is there."""
    connection = connections[alias]
    if has_table(alias):
        return
    with connection.schema_editor() as editor:
        create_table_if_missing(MigrationRun, editor)


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, no env var: the ledger still works
        return ""


class Entry(TypedDict):
    """One migration a run did, as the ledger keeps it (``MigrationRun.executed``)."""

    app: str
    name: str
    #: applied, unapplied (reconcile and migrate), accepted (an edited checksum)
    action: str
    fake: NotRequired[bool]
    #: how long the migration took
    seconds: NotRequired[float]
    #: the migration's checksum (:mod:`migration_guard.gates.checksums`)
    checksum: NotRequired[dict[str, Any]]
    #: how a fake was verified, and why one that was not was forced
    verification: NotRequired[str]
    reason: NotRequired[str]
    note: NotRequired[str]
    #: an accepted edit: the checksum it replaced, and what changed
    previous: NotRequired[dict[str, Any]]
    changed: NotRequired[list[str]]


def entry(
    app: str, name: str, action: str, *, fake: bool | None = None, **details: Any
) -> Entry:
    """The ledger's entry of one migration done: ``details`` as :class:`Entry`.

    ``fake`` is left out of entries where it means nothing (an accepted edit).
    """
    done = Entry(app=app, name=name, action=action)
    if fake is not None:
        done["fake"] = fake
    done.update(details)  # type: ignore[typeddict-item]
    return done


@dataclass
class Recording:
    """The ledger row of a run under way (:func:`recorded`), and its end."""

    run: MigrationRun
    #: the migrations done so far, recorded with the end of the run
    executed: list[Entry] = field(default_factory=list)
    #: what ending the run could not write (the caller shows it)
    warnings: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.run.outcome != Outcome.RUNNING

    def finish(self, outcome: Outcome, *, error: str = "", **fields: Any) -> list[str]:
        """Record the end of the run, with :attr:`executed`; the write's warnings."""
        warnings = finish_run(
            self.run, outcome, executed=self.executed, error=error, **fields
        )
        self.warnings += warnings
        return warnings


@contextmanager
def recorded(run: MigrationRun) -> Iterator[Recording]:
    """Run ``run`` (a row :func:`start_run` wrote) to its recorded end.

    The block ends it with :meth:`Recording.finish`; a block that does not is
    recorded as ``failed`` with the error that left it, or as ``success``
    (``noop`` without anything executed) when it ends normally.
    """
    recording = Recording(run)
    try:
        yield recording
    except BaseException as exc:
        if not recording.finished:
            recording.finish(Outcome.FAILED, error=format_error(exc))
        raise
    if not recording.finished:
        recording.finish(Outcome.SUCCESS if recording.executed else Outcome.NOOP)


def start_run(
    alias: str,
    *,
    command: str,
    direction: str,
    plan: Sequence[dict[str, Any]],
    applied_before: Sequence[str],
    fake: bool = False,
    argv: Sequence[str] | None = None,
    link: Mapping[str, Any] | None = None,
) -> MigrationRun:
    """Write the row of a run that starts now (outcome ``running``).

    ``link`` goes into the row's ``runtime``: the group of runs of one
    command on several databases (:mod:`~migration_guard.run.multi`).

    The table is created on the first run (before migration_guard's own
    migration has run); afterwards the insert is all it costs.
    """
    run = MigrationRun(
        alias=alias,
        vendor=connections[alias].vendor,
        command=command,
        user=current_user(),
        host=socket.gethostname(),
        argv=list(sys.argv if argv is None else argv),
        direction=direction,
        fake=fake,
        plan=list(plan),
        applied_before=list(applied_before),
        started_at=timezone.now(),
        django_version=django.get_version(),
        migration_guard_version=migration_guard.__version__,
        key=uuid.uuid4(),
        runtime={**this_process(), **(link or {})},
        log_position=read_position(alias),
    )
    connection = connections[alias]
    # in a transaction, a savepoint keeps a failed insert from breaking it;
    # in autocommit (a run's start) a failed insert leaves nothing behind
    guard = (
        transaction.atomic(using=alias)
        if connection.in_atomic_block
        else contextlib.nullcontext()
    )
    try:
        with guard:
            run.save(using=alias, force_insert=True)
    except DatabaseError:
        if has_table(alias):
            raise
        ensure_table(alias)
        run.save(using=alias, force_insert=True)
    return run


def this_process() -> dict[str, Any]:
    """What identifies this process later: its pid and its start (see recovery)."""
    from migration_guard.run.recovery import process_token

    return {"pid": os.getpid(), "token": process_token(os.getpid())}


def has_table(alias: str) -> bool:
    """Whether database ``alias`` has the ledger table (reading never creates it)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        return MigrationRun._meta.db_table in connection.introspection.table_names(
            cursor
        )


def format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).strip()


def finish_run(
    run: MigrationRun,
    outcome: Outcome,
    *,
    executed: Sequence[Mapping[str, Any]] = (),
    error: str = "",
    **fields: Any,
) -> list[str]:
    """Record how ``run`` ended; return warnings instead of raising.

    The run's outcome must never hide the error that ended it: if the ledger
    itself cannot be written (the server went away), the caller reports that
    as a warning next to the real error.
    """
    run.outcome = outcome
    run.executed = list(executed)
    run.error = error
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    changed = ["outcome", "executed", "error", "finished_at", *fields]
    try:
        # only what changed (not the plan and applied state again), unless a
        # restore removed the row: then it is merged whole, never over the
        # row of another run that a restore put under the same id
        if (
            not MigrationRun.objects.using(run.alias)
            .filter(pk=run.pk, key=run.key)
            .update(**{name: getattr(run, name) for name in changed})
        ):
            run.pk = merge(run.alias, [_row(run)])[0]
    except DatabaseError as exc:
        return [f"Could not record the end of run {run.pk} in the ledger: {exc}"]
    return []


def snapshot(alias: str) -> list[dict[str, Any]]:
    """Every ledger row of ``alias``, to carry the history across a restore."""
    if not has_table(alias):
        return []
    return [dict(row) for row in MigrationRun.objects.using(alias).values()]


def replay(alias: str, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` back after a restore replaced the ledger table's content.

    A restore rolls the database back, but the ledger is history: runs made
    after the backup was taken must stay recorded. Rows are merged
    (:func:`merge`): the restored table's rows of other runs stay.
    """
    ensure_table(alias)
    merge(alias, rows)


def _row(run: MigrationRun) -> dict[str, Any]:
    return {
        f.attname: getattr(run, f.attname) for f in MigrationRun._meta.concrete_fields
    }


def _same_run(row: dict[str, Any], existing: MigrationRun) -> bool:
    """Whether ``row`` and ``existing`` record the same run.

    By their keys; rows written before runs had keys (NULL) by their start
    and command.
    """
    if row.get("key") and existing.key:
        return str(row["key"]) == str(existing.key)
    return (existing.started_at, existing.command) == (
        row.get("started_at"),
        row.get("command"),
    )


def merge(alias: str, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Write ledger ``rows`` without overwriting another run's row; their ids.

    A row whose run is already there (same key) updates it. A row whose id
    another run holds (a restore brought back a ledger with other runs under
    the same ids) is kept too, under a new id. Others are written with their
    own id.
    """
    manager = MigrationRun.objects.using(alias)
    ids: list[int | None] = []
    displaced: list[tuple[int, dict[str, Any]]] = []
    for index, row in enumerate(rows):
        same = manager.filter(key=row["key"]).first() if row.get("key") else None
        if same is None:
            holder = manager.filter(pk=row["id"]).first()
            if holder is not None and not _same_run(row, holder):
                displaced.append((index, row))
                ids.append(None)
                continue
            same = holder
        values = {**row, "id": same.pk if same is not None else row["id"]}
        MigrationRun(**values).save(using=alias, force_insert=same is None)
        ids.append(values["id"])
    _reset_sequence(alias)
    for index, row in displaced:
        moved = MigrationRun(**{**row, "id": None})
        moved.save(using=alias, force_insert=True)
        ids[index] = moved.pk
    return [pk for pk in ids if pk is not None]


def _reset_sequence(alias: str) -> None:
    connection = connections[alias]
    statements = connection.ops.sequence_reset_sql(no_style(), [MigrationRun])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def find_run(alias: str, run_id: int | None) -> MigrationRun:
    """The run ``run_id`` of ``alias``, or its latest run that applied something."""
    from migration_guard.exceptions import UsageError

    runs = MigrationRun.objects.using(alias).filter(alias=alias)
    exists = has_table(alias)
    if run_id is not None:
        run = runs.filter(pk=run_id).first() if exists else None
        if run is None:
            raise UsageError(
                f"No run {run_id} in the ledger of database '{alias}'. "
                "'manage.py migrationhistory' lists the recorded runs."
            )
        return run
    run = (
        runs.filter(
            command="guardedmigrate", outcome=Outcome.SUCCESS, direction="forwards"
        )
        .order_by("-started_at", "-id")
        .first()
        if exists
        else None
    )
    if run is None:
        raise UsageError(
            f"No successful forward guardedmigrate run in the ledger of database "
            f"'{alias}' to undo. Name a target instead: rollbackplan app migration."
        )
    return run
