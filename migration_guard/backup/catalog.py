"""Taking, checking, restoring and pruning backups of a database alias."""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connections

import migration_guard
from migration_guard.backup import fingerprint, logpos, scope_history, scoped
from migration_guard.backup.base import (
    BackupBackend,
    BackupError,
    Progress,
    backend_class,
    backend_for,
)
from migration_guard.backup.identity import (
    Identity,
    belongs_to,
    database_identity,
    describe,
)
from migration_guard.backup.process import ProcessError
from migration_guard.backup.storage import (
    BackupStore,
    Manifest,
    fsync_file,
    get_store,
    new_id,
    sha256_of,
)
from migration_guard.exceptions import UsageError, VerificationRefused


def create_backup(
    alias: str,
    *,
    reason: str,
    run_id: int | None = None,
    plan: Sequence[dict[str, Any]] = (),
    applied_before: Sequence[str] = (),
    progress: Progress | None = None,
    store: BackupStore | None = None,
    tables: Collection[str] | None = None,
) -> Manifest:
    """Dump ``alias``, verify the file in full, and store it with its manifest.

    ``tables``: a plan-scoped backup of those of them that exist
    (:mod:`~migration_guard.backup.scoped`). Raises BackupError when anything
    fails: nothing half-written is kept.
    """
    backend = backend_for(connections[alias])
    problems = backend.problems()
    if problems:
        raise BackupError("; ".join(problems))
    store = store or get_store()
    manifest = _new_manifest(alias, backend, reason=reason, run_id=run_id)
    manifest.applied_before = list(applied_before)
    if tables is not None and not applied_before:  # a scoped restore checks it
        manifest.applied_before = scope_history.applied_migrations(alias)
    manifest.plan = list(plan)
    started = time.monotonic()
    where = store.description
    try:
        manifest.identity = database_identity(alias)
        if tables is not None:
            scoped.record(manifest, connections[alias], tables)
            if not manifest.scope_tables:  # nothing of it exists: the whole database
                manifest.scope, manifest.relations = [], []
        manifest.log_position = logpos.read_position(alias)
        versions = backend.versions()
        manifest.server_version = versions.get("server", "")
        manifest.client_version = versions.get("client", "")
        with store.staging(manifest) as path:
            where = str(path.parent)
            _dump_checked(alias, backend, path, manifest, store, progress)
            only = manifest.scope_tables if tables is not None else None
            manifest.schema = fingerprint.schema(alias, only)
            manifest.checks = {
                table: checks
                for table, checks in fingerprint.mysql_checks(alias).items()
                if only is None or table in only
            }
            manifest.seconds = round(time.monotonic() - started, 3)
            store.commit(path, manifest)
    except (BackupError, ProcessError, OSError) as exc:
        error = _failure(alias, where, store, exc)
        if error is exc:
            raise
        raise error from exc
    return manifest


#: how the dump tools and SQLite say that the disk is full
_NO_SPACE = ("No space left on device", "database or disk is full", "errno 28")


def _failure(
    alias: str, where: str, store: BackupStore, exc: BaseException
) -> BackupError:
    """The error of a failed backup: a full disk is named as such, with the place."""
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or any(
        text in str(exc) for text in _NO_SPACE
    ):
        return BackupError(
            f"The backup of database '{alias}' does not fit: {where} ran out of "
            f"space ({exc}). Nothing of it was kept. Free space there, or set "
            "MIGRATION_GUARD['BACKUP_DIR'] to a larger disk"
        )
    if isinstance(exc, BackupError):
        return exc
    if isinstance(exc, OSError):
        return BackupError(
            f"Writing the backup of database '{alias}' to {store.description} "
            f"failed: {exc.strerror or exc}"
        )
    return BackupError(str(exc))


def _new_manifest(
    alias: str, backend: BackupBackend, *, reason: str, run_id: int | None
) -> Manifest:
    """The manifest of a backup of ``alias`` taken now, before its file exists."""
    connection = connections[alias]
    now = datetime.now(UTC)
    backup_id = new_id(alias, now)
    format, extension = backend.layout()
    return Manifest(
        id=backup_id,
        alias=alias,
        vendor=connection.vendor,
        format=format,
        filename=backup_id + extension,
        database=str(connection.settings_dict.get("NAME") or ""),
        created_at=now.isoformat(),
        reason=reason,
        run_id=run_id,
        migration_guard_version=migration_guard.__version__,
    )


def _dump_checked(
    alias: str,
    backend: BackupBackend,
    path: Path,
    manifest: Manifest,
    store: BackupStore,
    progress: Progress | None,
) -> None:
    """Dump into ``path``, fsync, hash it read back, verify it, count its rows."""
    streamed = backend.dump(path, progress, manifest.scope_tables or None)
    fsync_file(path)
    with open(path, "rb") as handle:  # read back in full
        manifest.sha256, manifest.size = sha256_of(handle)
    if manifest.size == 0:
        raise BackupError(f"The backup of database '{alias}' is empty.")
    if streamed is None:
        backend.verify(path)
    elif streamed != manifest.sha256:
        raise BackupError(
            f"The backup of database '{alias}' read back from "
            f"{store.description} differs from what was written and "
            "checked; the storage is corrupting data."
        )
    manifest.rows = backend.read_rows(path)


def find(backup_id: str, store: BackupStore | None = None) -> Manifest:
    store = store or get_store()
    manifest = store.get(backup_id)
    if manifest is None:
        known = [m.id for m in store.manifests()[:5]]
        hint = f" Newest: {', '.join(known)}." if known else ""
        raise UsageError(
            f"No backup '{backup_id}' in {store.description}. "
            f"'manage.py migrationbackups list' shows them.{hint}"
        )
    return manifest


def backups_of(
    alias: str, store: BackupStore | None = None, current: Identity | None = None
) -> list[Manifest]:
    """The backups of the database ``alias`` points at now, newest first."""
    store = store or get_store()
    current = current if current is not None else database_identity(alias)
    return [m for m in store.manifests() if belongs_to(m, alias, current)]


def check_identity(manifest: Manifest, alias: str, *, into_other: bool) -> bool:
    """Refuse (exit 4) a backup of another database unless ``into_other``.

    Returns whether the backup is of another database (so the caller
    records that it was restored across).
    """
    current = database_identity(alias)
    if belongs_to(manifest, alias, current):
        return False
    if into_other:
        return True
    alias_note = f"{manifest.vendor} {manifest.database} (alias {manifest.alias})"
    source = describe(manifest.identity, alias_note)
    raise VerificationRefused(
        f"Backup {manifest.id} is a backup of another database ({source}); "
        f"database '{alias}' is {describe(current)}. Nothing was changed. "
        "Pass --into-other-database to replace this database's content with "
        "it anyway."
    )


def check_engine(manifest: Manifest, alias: str) -> BackupBackend:
    """Refuse (exit 4) a backup made by another engine or in another format."""
    connection = connections[alias]
    backend = backend_for(connection)
    if manifest.vendor != connection.vendor or not backend.accepts(manifest.format):
        raise VerificationRefused(
            f"Backup {manifest.id} is a {manifest.vendor} backup "
            f"({manifest.format}); database '{alias}' is {connection.vendor} "
            f"({backend.format}). Restore it into a {manifest.vendor} database."
        )
    return backend


def verify_backup(
    manifest: Manifest, store: BackupStore | None = None, *, full: bool = True
) -> None:
    """Refuse (exit 4) unless the file is intact: size, sha256, kind, content.

    The kind (from the file's first bytes) must be the manifest's vendor.
    ``full`` reads the whole file as it will be loaded
    (:meth:`~migration_guard.backup.base.BackupBackend.check_content`): a sha256
    in the manifest proves only that nobody changed the file since the
    manifest was written, not that the manifest is honest. Restores and
    ``migrationbackups verify`` do the full check; ``full=False`` skips it.
    """
    store = store or get_store()
    with _checked_copy(manifest, store) as path:
        kind = file_kind(path)
        if kind != manifest.vendor:
            raise VerificationRefused(
                f"Backup {manifest.id}: {store.location(manifest)} is "
                + (f"a {kind} backup" if kind else "not a backup migration_guard knows")
                + f", but its manifest says {manifest.vendor}. The manifest was "
                "altered; nothing was changed."
            )
        if full:
            try:
                rows = _backend_of(manifest).check_content(path)
            except (BackupError, ProcessError) as exc:
                raise VerificationRefused(f"Backup {manifest.id}: {exc}") from exc
            if manifest.rows and rows != manifest.rows:
                tables = sorted(
                    t
                    for t in set(rows) | set(manifest.rows)
                    if rows.get(t) != manifest.rows.get(t)
                )
                raise VerificationRefused(
                    f"Backup {manifest.id}: the file holds other rows than its "
                    f"manifest records (tables {', '.join(tables[:5])}"
                    + (", ..." if len(tables) > 5 else "")
                    + "); do not restore it."
                )


#: the first bytes of each vendor's backup files
_MAGIC = (
    (b"SQLite format 3\x00", "sqlite"),
    (b"PGDMP", "postgresql"),
)


def file_kind(path: Path) -> str | None:
    """The vendor whose backup ``path`` is, from its first bytes, or None."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    for magic, vendor in _MAGIC:
        if head.startswith(magic):
            return vendor
    from migration_guard.backup.pg_directory import is_directory_archive

    if is_directory_archive(head):
        return "postgresql"
    from migration_guard.backup.mysql import HEADERS

    if any(line.startswith(HEADERS) for line in head.splitlines()[:3]):
        return "mysql"
    return None


@contextlib.contextmanager
def _checked_copy(manifest: Manifest, store: BackupStore) -> Iterator[Path]:
    """A local path of the backup whose size and sha256 match the manifest.

    For a remote storage this is the downloaded copy itself, so the file
    that gets restored is the one that was checked.
    """
    location = store.location(manifest)
    try:
        with store.local_copy(manifest) as path:
            try:
                with open(path, "rb") as handle:
                    digest, size = sha256_of(handle)
            except FileNotFoundError:
                raise VerificationRefused(
                    f"Backup {manifest.id}: the file {location} is missing."
                ) from None
            if size != manifest.size or digest != manifest.sha256:
                raise VerificationRefused(
                    f"Backup {manifest.id} does not match its manifest: {location} "
                    f"has {size} bytes and sha256 {digest[:16]}..., the manifest "
                    f"says {manifest.size} bytes and {manifest.sha256[:16]}.... "
                    "The file was altered or cut short; do not restore it."
                )
            yield path
    except OSError as exc:
        raise VerificationRefused(
            f"Backup {manifest.id} cannot be read from {location}: {exc}"
        ) from exc


def _backend_of(manifest: Manifest) -> BackupBackend:
    """A backend of ``manifest``'s vendor, to check the format of its file."""
    alias = manifest.alias if manifest.alias in connections else "default"
    try:
        return backend_class(manifest.vendor)(connections[alias])
    except BackupError as exc:
        raise VerificationRefused(f"Backup {manifest.id}: {exc}") from exc


def restore_backup(
    alias: str,
    manifest: Manifest,
    *,
    progress: Progress | None = None,
    store: BackupStore | None = None,
    no_owner: bool = False,
    no_privileges: bool = False,
    on_loaded: Callable[[], None] | None = None,
    scope_checked: bool = False,
) -> None:
    """Restore ``manifest`` into ``alias`` after checking engine and file.

    ``on_loaded`` is called once the backup is in the database, before it is
    compared with the manifest. ``scope_checked``: the caller has just run
    :func:`check_scope` (under the migration lock).

    Raises VerificationRefused (nothing touched) or BackupError (the restore
    itself failed). Django's connection is closed afterwards: recorders and
    loaders made before the restore hold stale state.
    """
    store = store or get_store()
    backend = check_engine(manifest, alias)
    if not scope_checked:
        check_scope(alias, manifest)
    try:
        with _checked_copy(manifest, store) as path:  # verified, then restored
            backend.restore(
                path,
                progress,
                verified=True,
                no_owner=no_owner,
                no_privileges=no_privileges,
                scope=scoped.of_manifest(manifest),
            )
        if on_loaded is not None:
            on_loaded()
        connections[alias].close()
        check_restored(alias, manifest)
    except ProcessError as exc:
        raise BackupError(str(exc)) from exc
    finally:
        connections[alias].close()


def check_scope(alias: str, manifest: Manifest) -> None:
    """Refuse (exit 4) a plan-scoped backup that the database no longer fits:
    other tables' relations to its tables, migrations outside its plan."""
    scoped.check_relations(alias, manifest)
    scope_history.check(manifest, alias)


def check_restored(alias: str, manifest: Manifest) -> list[str]:
    """Compare the restored database with the manifest's record; repair what
    a dump cannot carry (MariaDB check names). Returns the repairs made.

    BackupError lists any other difference. Manifests written before the
    record existed are not compared.
    """
    if not manifest.schema:
        return []
    repaired = fingerprint.repair_mysql_checks(alias, manifest.checks)
    only = manifest.scope or None  # a scoped restore: the plan's tables
    problems = fingerprint.differences(
        manifest.schema,
        manifest.rows,
        fingerprint.schema(alias, only),
        fingerprint.live_rows(alias, list(manifest.rows)),
    )
    if problems:
        raise BackupError(
            f"The database restored from backup {manifest.id} differs from the "
            f"backup: {'; '.join(problems[:10])}"
            + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
            + "."
        )
    return repaired


def prune(
    alias: str, keep: int, *, dry_run: bool = False, store: BackupStore | None = None
) -> list[Manifest]:
    """Remove ``alias``'s backups beyond the ``keep`` newest unpinned ones.

    Only backups of the database ``alias`` points at now are considered
    (other databases may share the store). The newest backup and pinned
    backups are never removed.
    """
    store = store or get_store()
    mine = backups_of(alias, store)  # newest first
    if not mine:
        return []
    candidates = [m for m in mine[1:] if not m.pinned]
    kept_unpinned = 0 if mine[0].pinned else 1
    removed = candidates[max(keep - kept_unpinned, 0) :]
    if not dry_run:
        for manifest in removed:
            store.delete(manifest)
    return removed


def set_pinned(
    manifest: Manifest, pinned: bool, store: BackupStore | None = None
) -> None:
    store = store or get_store()
    manifest.pinned = pinned
    store.write_manifest(manifest)
