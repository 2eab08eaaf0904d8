"""A guarded restore: checked backup, migration lock, safety backup, ledger.

Shared by ``migrationbackups restore`` and ``rollback --strategy restore``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

from migration_guard.backup import catalog
from migration_guard.backup.base import BackupError, Progress
from migration_guard.backup.storage import BackupStore, Manifest
from migration_guard.exceptions import BackupFailed, RestoreFailed, RunInterrupted
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import interrupts, ledger, markers
from migration_guard.run.interrupts import exit_code_of
from migration_guard.run.locking import migration_lock


def applied_now(alias: str) -> list[str]:
    recorder = MigrationRecorder(connections[alias])
    return sorted(f"{a}.{n}" for a, n in recorder.applied_migrations())


def check(
    manifest: Manifest, alias: str, store: BackupStore, *, into_other: bool = False
) -> bool:
    """Database, engine, format, size, sha256 and the whole file's content:
    refuse (exit 4) before anything is touched, no safety backup taken; and
    a scoped backup that does not cover an unfinished restore (exit 7).

    Returns whether the backup is of another database (``into_other``).
    """
    catalog.check_engine(manifest, alias)
    other = catalog.check_identity(manifest, alias, into_other=into_other)
    markers.check_covers_unfinished(alias, manifest, store)
    catalog.verify_backup(manifest, store, full=True)
    catalog.check_scope(alias, manifest)
    return other


@dataclass
class Restored:
    safety: Manifest
    run: MigrationRun


def restore(
    alias: str,
    manifest: Manifest,
    *,
    store: BackupStore,
    lock_timeout: float,
    command: str,
    argv: Sequence[str],
    say: Callable[[str, str], None],
    progress: Callable[[str], Progress | None],
    no_owner: bool = False,
    no_privileges: bool = False,
    into_other: bool = False,
    locked: bool = False,
) -> Restored:
    """Restore a checked backup under the lock, after a safety backup.

    The ledger is history: the restore rolls its table back with the rest,
    so the rows it erased are written back afterwards, with this restore.
    ``locked``: the caller holds the migration lock already. On MySQL, a
    marker table says a restore is in progress until it is done: loading a
    dump is not atomic there, and runs refuse a half-loaded database; a
    restore that does not cover it is refused before the safety backup.
    """
    lock = contextlib.nullcontext() if locked else migration_lock(alias, lock_timeout)
    with lock:
        # again under the lock: a restore killed since check() left its marker
        markers.check_covers_unfinished(alias, manifest, store)
        safety = _safety_backup(alias, store, say, progress, manifest)
        say("MIGRATE_HEADING", f"Restoring {manifest.id}:")
        history = ledger.snapshot(alias)
        loaded: list[bool] = []
        try:
            with ledger.recorded(
                ledger.start_run(
                    alias, command=command, direction="none", plan=[],
                    applied_before=applied_now(alias), argv=argv,
                )
            ) as recording:  # fmt: skip
                _restore_marked(
                    alias, manifest, store, recording=recording, safety=safety,
                    say=say, progress=progress("Restoring"), no_owner=no_owner,
                    no_privileges=no_privileges, loaded=loaded,
                )  # fmt: skip
                ledger.ensure_table(alias)
                recording.finish(
                    Outcome.SUCCESS,
                    backup_id=manifest.id,
                    backup_note=_note(safety, into_other),
                )
        except RunInterrupted:
            if loaded:  # the backup is in: its ledger rows are history too
                ledger.replay(alias, history)
            raise
        ledger.replay(alias, history)
    say(
        "SUCCESS",
        f"  {manifest.id}... OK: database '{alias}' is back to {manifest.created_at}.",
    )
    return Restored(safety, recording.run)


def _note(safety: Manifest, into_other: bool) -> str:
    """The ledger's note of a restore."""
    note = f"restored; safety backup {safety.id}"
    if into_other:
        note += "; a backup of another database (--into-other-database)"
    return note


def _restore_marked(
    alias: str,
    manifest: Manifest,
    store: BackupStore,
    *,
    recording: ledger.Recording,
    safety: Manifest,
    say: Callable[[str, str], None],
    progress: Progress | None,
    no_owner: bool,
    no_privileges: bool,
    loaded: list[bool],
) -> None:
    """The restore itself, under the restore marker where the vendor needs it;
    a failure is recorded in ``recording``, raised as RestoreFailed/RunInterrupted.

    Once the backup is loaded, signals are deferred (``loaded`` says it): the
    comparison with the manifest and the ledger's history finish first.
    """

    def on_loaded() -> None:
        interrupts.defer()
        loaded.append(True)

    marked = markers.marks_restores(alias, manifest)
    try:
        markers.restore_marked(
            alias,
            manifest,
            progress=progress,
            store=store,
            no_owner=no_owner,
            no_privileges=no_privileges,
            on_loaded=on_loaded,
        )
    except KeyboardInterrupt as exc:
        connections[alias].close()
        if loaded:
            _loaded_then_interrupted(alias, manifest, marked, recording, exc, say)
        _finish(recording, Outcome.INTERRUPTED, exc, say)
        raise _interrupted(alias, manifest, marked, exc) from exc
    except BackupError as exc:
        _finish(recording, Outcome.RESTORE_FAILED, exc, say)
        raise RestoreFailed(
            f"Restoring backup {manifest.id} into database '{alias}' failed: "
            f"{exc} The state before this attempt is in safety backup "
            f"{safety.id}: manage.py migrationbackups restore {safety.id} "
            f"--database {alias}"
        ) from exc


def _safety_backup(
    alias: str,
    store: BackupStore,
    say: Callable[[str, str], None],
    progress: Callable[[str], Progress | None],
    restored: Manifest,
) -> Manifest:
    """The backup of the database as it is, taken before ``restored``
    replaces it: of the same tables when that restore replaces only those.

    Its plan is what the restore changes in the history (the migrations
    applied now and not in ``restored``, and the other way round), so that
    the safety backup of a scoped restore can undo it (backup.scope_history).
    """
    say("MIGRATE_HEADING", "Taking a safety backup:")
    applied = applied_now(alias)
    changed = set(applied) ^ set(restored.applied_before)
    try:
        safety = catalog.create_backup(
            alias,
            reason="safety",
            applied_before=applied,
            plan=[_step(key, backwards=key in applied) for key in sorted(changed)],
            progress=progress("Backing up"),
            store=store,
            tables=restored.scope or None,
        )
    except BackupError as exc:
        raise BackupFailed(
            f"The safety backup of database '{alias}' failed, so nothing was "
            f"restored: {exc}"
        ) from exc
    say("MIGRATE_LABEL", f"  {safety.id}... OK")
    return safety


def _step(key: str, *, backwards: bool) -> dict[str, object]:
    app, _, name = key.partition(".")
    return {"app": app, "name": name, "backwards": backwards}


def _finish(
    recording: ledger.Recording,
    outcome: Outcome,
    exc: BaseException,
    say: Callable[[str, str], None],
) -> None:
    for warning in recording.finish(outcome, error=ledger.format_error(exc)):
        say("ERROR", warning)


def _loaded_then_interrupted(
    alias: str,
    manifest: Manifest,
    marked: bool,
    recording: ledger.Recording,
    exc: KeyboardInterrupt,
    say: Callable[[str, str], None],
) -> None:
    """Interrupted after the load: the database holds the backup, unchecked."""
    if marked:
        markers.clear_marker(alias)
    ledger.ensure_table(alias)
    _finish(recording, Outcome.INTERRUPTED, exc, say)
    raise RunInterrupted(
        f"The restore of backup {manifest.id} into database '{alias}' was "
        "interrupted after the backup was loaded, while the database was being "
        "compared with it: the database holds the backup, but that comparison "
        "did not finish. Restore it again to have it checked: manage.py "
        f"migrationbackups restore {manifest.id} --database {alias}",
        returncode=exit_code_of(exc),
    ) from exc


def _interrupted(
    alias: str, manifest: Manifest, marked: bool, exc: KeyboardInterrupt
) -> Exception:
    """What to raise when a restore was interrupted: with a marker, the
    database may be half-loaded; without, the database rolled it back."""
    if marked:
        return RestoreFailed(
            f"The restore of backup {manifest.id} into database '{alias}' "
            "was interrupted: the database may hold only part of it, and "
            "migration runs refuse it until it is restored again: "
            f"manage.py migrationbackups restore {manifest.id} --database "
            f"{alias}"
        )
    return RunInterrupted(
        f"The restore of backup {manifest.id} into database '{alias}' was "
        "interrupted and rolled back by the database: it is as before.",
        returncode=exit_code_of(exc),
    )
