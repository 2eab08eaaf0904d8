"""Where backups live: files and their JSON manifests.

The manifests in the storage are the catalogue. They must not live only in
the database: a restore rolls the database's own tables back.

Backups go to ``STORAGES["migration_guard"]`` when it is configured (so
django-storages' S3 and friends work), else to the local ``BACKUP_DIR``
(directory 0700, files 0600). A local backup is written under a temporary
name, fsynced, verified by reading it back in full, and only then renamed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages

from migration_guard.backup.base import BackupError
from migration_guard.backup.partials import remove_stale
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import BackupFailed

CHUNK = 4 * 1024 * 1024  # reading back: fewer, larger reads
MANIFEST_SUFFIX = ".json"


@dataclass
class Manifest:
    """Everything needed to trust, find and restore one backup."""

    id: str
    alias: str
    vendor: str
    format: str
    filename: str
    database: str
    created_at: str
    size: int = 0
    sha256: str = ""
    server_version: str = ""
    client_version: str = ""
    reason: str = "manual"
    run_id: int | None = None
    applied_before: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    pinned: bool = False
    seconds: float = 0.0
    migration_guard_version: str = ""
    #: which database this is a backup of (see catalog.database_identity);
    #: empty in manifests written before guardedmigrate recorded it
    identity: dict[str, str] = field(default_factory=dict)
    #: a digest per table of its columns and constraints (fingerprint.schema)
    schema: dict[str, str] = field(default_factory=dict)
    #: rows per table, read from the backup file when it was taken
    rows: dict[str, int] = field(default_factory=dict)
    #: MySQL/MariaDB: {table: {check constraint name: clause}}
    checks: dict[str, dict[str, str]] = field(default_factory=dict)
    #: where the database's own log was when the backup started (logpos)
    log_position: dict[str, str] = field(default_factory=dict)
    #: a plan-scoped backup (backup.scoped): the plan's tables, those of them
    #: the file holds, and the foreign keys between them and the other tables;
    #: all empty for a backup of the whole database
    scope: list[str] = field(default_factory=list)
    scope_tables: list[str] = field(default_factory=list)
    relations: list[dict[str, str]] = field(default_factory=list)

    @property
    def manifest_name(self) -> str:
        return self.id + MANIFEST_SUFFIX

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """A manifest read from the store; ValueError unless it is well-formed.

        The id and the file name must be plain names inside the store, and
        the file must be this backup's own (``ID.ext``): a manifest is data
        anybody who can write to the store may have edited, and retention
        deletes what it names.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        manifest = cls(**{key: value for key, value in data.items() if key in known})
        check_name(manifest.id)
        check_name(manifest.filename)
        if not manifest.filename.startswith(manifest.id + "."):
            raise ValueError(
                f"the manifest of backup {manifest.id!r} names the file "
                f"{manifest.filename!r}, which is not its own"
            )
        if not isinstance(manifest.identity, dict):
            raise ValueError(f"the identity of backup {manifest.id!r} is not a dict")
        return manifest


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def check_name(name: Any) -> str:
    """``name`` if it is a plain file name inside the store; else ValueError.

    No directory part, no absolute path, no ``..``, no hidden or partial
    file: only the characters :func:`new_id` and the extensions produce.
    """
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not a plain file name inside the backup store")
    return name


def new_id(alias: str, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    safe_alias = re.sub(r"[^A-Za-z0-9_-]", "_", alias)
    return f"{safe_alias}-{when:%Y%m%dT%H%M%S%f}"


def sha256_of(handle: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class UnsafeStore(BackupFailed, BackupError):
    """The store is not a closed box (exit 5): nothing was read or deleted.

    A BackupError too, so whoever handles a failed backup handles it.
    """


class BackupStore:
    """A place for backups and their manifests."""

    description = ""
    #: manifests :meth:`manifests` skipped, each with the reason
    rejected: list[str]

    @contextlib.contextmanager
    def staging(self, manifest: Manifest) -> Iterator[Path]:
        """A local, private path to write the backup of ``manifest`` to."""
        raise NotImplementedError

    def commit(self, staged: Path, manifest: Manifest) -> None:
        """Move a verified staged file into the store, then write its manifest."""
        raise NotImplementedError

    def manifests(self) -> list[Manifest]:
        raise NotImplementedError

    def write_manifest(self, manifest: Manifest) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def local_copy(self, manifest: Manifest) -> Iterator[Path]:
        """A local path holding the backup file of ``manifest``."""
        raise NotImplementedError

    def delete(self, manifest: Manifest) -> None:
        raise NotImplementedError

    def location(self, manifest: Manifest) -> str:
        raise NotImplementedError

    def remove_stale_partials(self) -> list[Path]:
        """Remove what killed runs left half-written; return the paths removed."""
        return []

    def get(self, backup_id: str) -> Manifest | None:
        for manifest in self.manifests():
            if manifest.id == backup_id:
                return manifest
        return None


def unsafe_directory(directory: Path) -> str | None:
    """Why ``directory`` cannot hold backups safely, or None.

    A directory other users can write to lets them replace a backup and its
    manifest (the checksum is in the manifest) or plant manifests that make
    retention delete files: 0777 and 1777 (sticky) alike.
    """
    try:
        mode = directory.stat().st_mode
    except OSError:  # missing or not a directory: creating it says why
        return None
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"the backup directory {directory} is writable by other users "
            f"(mode {stat.S_IMODE(mode):04o}): they could replace backups or "
            "plant manifests"
        )
    return None


def directory_hint(directory: Path) -> str:
    return (
        f"Run 'chmod 700 {directory}', or set MIGRATION_GUARD['BACKUP_DIR'] to a "
        "private directory."
    )


class LocalStore(BackupStore):
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.description = str(self.directory)
        self.rejected = []

    def check_directory(self) -> None:
        """Raise UnsafeStore (exit 5) if the directory is writable by others."""
        problem = unsafe_directory(self.directory)
        if problem:
            raise UnsafeStore(
                f"Refusing to use {self.directory}: {problem}. "
                + directory_hint(self.directory)
            )

    def path_of(self, name: str) -> Path:
        """The path of the plain file ``name`` in the store (checked again)."""
        try:
            return self.directory / check_name(name)
        except ValueError as exc:
            raise UnsafeStore(f"{exc}; {self.directory} was not touched.") from exc

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(
                f"Cannot create the backup directory {self.directory}: "
                f"{exc.strerror}. Set MIGRATION_GUARD['BACKUP_DIR'] to a writable "
                "place."
            ) from exc
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise BackupError(
                f"The backup directory {self.directory} is not writable. Make it "
                "writable or set MIGRATION_GUARD['BACKUP_DIR']."
            )
        self.check_directory()

    @contextlib.contextmanager
    def staging(self, manifest: Manifest) -> Iterator[Path]:
        self._ensure_directory()
        self.remove_stale_partials()
        path = self.directory / f".{check_name(manifest.filename)}.partial"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise BackupError(f"Cannot write {path}: {exc.strerror}") from exc
        # held while the file is written: remove_stale_partials() of another
        # run leaves it alone, and removes it once this process is gone
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)

    def remove_stale_partials(self) -> list[Path]:
        """What killed runs left half-written here (see :mod:`.partials`)."""
        return remove_stale(self.directory)

    def commit(self, staged: Path, manifest: Manifest) -> None:
        final = self.path_of(manifest.filename)
        os.chmod(staged, 0o600)
        os.replace(staged, final)
        self.write_manifest(manifest)
        _fsync_dir(self.directory)

    def write_manifest(self, manifest: Manifest) -> None:
        self.check_directory()
        path = self.path_of(manifest.manifest_name)
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fcntl.flock(fd, fcntl.LOCK_EX)  # see remove_stale_partials()
            json.dump(manifest.as_json(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(partial, path)

    def manifests(self) -> list[Manifest]:
        if not self.directory.is_dir():
            return []
        self.check_directory()
        found = []
        self.rejected = []
        for path in self.directory.glob("*" + MANIFEST_SUFFIX):
            try:
                manifest = Manifest.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                self.rejected.append(f"{path.name}: {exc}")
                continue
            if manifest.manifest_name != path.name:
                self.rejected.append(
                    f"{path.name}: it describes backup {manifest.id!r}"
                )
                continue
            found.append(manifest)
        return sorted(found, key=lambda m: m.created_at, reverse=True)

    @contextlib.contextmanager
    def local_copy(self, manifest: Manifest) -> Iterator[Path]:
        self.check_directory()
        yield self.path_of(manifest.filename)

    def delete(self, manifest: Manifest) -> None:
        self.check_directory()
        file, described = (
            self.path_of(manifest.filename),
            self.path_of(manifest.manifest_name),
        )
        file.unlink(missing_ok=True)
        described.unlink(missing_ok=True)

    def location(self, manifest: Manifest) -> str:
        return str(self.directory / manifest.filename)


class DjangoStorageStore(BackupStore):
    """Backups in a Django storage (``STORAGES["migration_guard"]``).

    The backup is written and verified in a private local directory first,
    uploaded, then read back from the storage in full and compared with the
    local checksum before its manifest is written.
    """

    def __init__(self, storage: Storage) -> None:
        self.rejected = []
        self.storage = storage
        self.description = f"STORAGES['migration_guard'] ({type(storage).__name__})"

    @contextlib.contextmanager
    def staging(self, manifest: Manifest) -> Iterator[Path]:
        directory = Path(tempfile.mkdtemp(prefix="migration-guard-"))
        try:
            path = directory / manifest.filename
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            yield path
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def commit(self, staged: Path, manifest: Manifest) -> None:
        if self.storage.exists(manifest.filename):
            raise BackupError(
                f"{manifest.filename} already exists in {self.description}."
            )
        with open(staged, "rb") as handle:
            saved = self.storage.save(manifest.filename, File(handle))
        if saved != manifest.filename:
            self.storage.delete(saved)
            raise BackupError(
                f"{self.description} stored {manifest.filename} as {saved}; "
                "backups need their exact names."
            )
        with self.storage.open(saved, "rb") as remote:
            digest, size = sha256_of(remote)
        if (digest, size) != (manifest.sha256, manifest.size):
            self.storage.delete(saved)
            raise BackupError(
                f"{manifest.filename} read back from {self.description} does not "
                "match what was written; the upload is corrupt."
            )
        self.write_manifest(manifest)

    def write_manifest(self, manifest: Manifest) -> None:
        data = json.dumps(manifest.as_json(), indent=2).encode("utf-8")
        if self.storage.exists(manifest.manifest_name):
            self.storage.delete(manifest.manifest_name)
        from django.core.files.base import ContentFile

        self.storage.save(manifest.manifest_name, ContentFile(data))

    def manifests(self) -> list[Manifest]:
        try:
            _, files = self.storage.listdir("")
        except (FileNotFoundError, NotImplementedError):
            return []
        found = []
        self.rejected = []
        for name in files:
            if name.endswith(MANIFEST_SUFFIX):
                try:
                    with self.storage.open(name, "rb") as handle:
                        manifest = Manifest.from_json(json.loads(handle.read()))
                except (OSError, ValueError, TypeError) as exc:
                    self.rejected.append(f"{name}: {exc}")
                    continue
                if manifest.manifest_name != name:
                    self.rejected.append(f"{name}: it describes backup {manifest.id!r}")
                    continue
                found.append(manifest)
        return sorted(found, key=lambda m: m.created_at, reverse=True)

    @contextlib.contextmanager
    def local_copy(self, manifest: Manifest) -> Iterator[Path]:
        with self.staging(manifest) as path:
            with (
                self.storage.open(manifest.filename, "rb") as remote,
                open(path, "wb") as local,
            ):
                shutil.copyfileobj(remote, local, CHUNK)
            yield path

    def delete(self, manifest: Manifest) -> None:
        try:
            names = (check_name(manifest.filename), check_name(manifest.manifest_name))
        except ValueError as exc:
            raise UnsafeStore(f"{exc}; {self.description} was not touched.") from exc
        for name in names:
            if self.storage.exists(name):
                self.storage.delete(name)

    def location(self, manifest: Manifest) -> str:
        return f"{self.description}: {manifest.filename}"


def get_store() -> BackupStore:
    if "migration_guard" in getattr(settings, "STORAGES", {}):
        return DjangoStorageStore(storages["migration_guard"])
    return LocalStore(conf.backup_dir)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
