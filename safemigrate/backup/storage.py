"""Where backups live: files and their JSON manifests.

The manifests in the storage are the catalogue. They must not live only in
the database: a restore rolls the database's own tables back.

Backups go to ``STORAGES["safemigrate"]`` when it is configured (so
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
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages

from safemigrate.backup.base import BackupError
from safemigrate.conf import safemigrate_settings as conf

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
    safemigrate_version: str = ""

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
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


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


class BackupStore:
    """A place for backups and their manifests."""

    description = ""

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


class LocalStore(BackupStore):
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.description = str(self.directory)

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(
                f"Cannot create the backup directory {self.directory}: "
                f"{exc.strerror}. Set SAFEMIGRATE['BACKUP_DIR'] to a writable place."
            ) from exc
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise BackupError(
                f"The backup directory {self.directory} is not writable. Make it "
                "writable or set SAFEMIGRATE['BACKUP_DIR']."
            )

    @contextlib.contextmanager
    def staging(self, manifest: Manifest) -> Iterator[Path]:
        self._ensure_directory()
        self.remove_stale_partials()
        path = self.directory / f".{manifest.filename}.partial"
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
        """``.partial`` files nobody writes any more (their writer was killed).

        A writer holds an exclusive ``flock`` on its partial file; a file
        whose lock can be taken has no writer left.
        """
        removed: list[Path] = []
        if not self.directory.is_dir():
            return removed
        for path in self.directory.glob(".*.partial"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                if os.fstat(fd).st_nlink:  # not already replaced by its writer
                    path.unlink(missing_ok=True)
                    removed.append(path)
            finally:
                os.close(fd)
        return removed

    def commit(self, staged: Path, manifest: Manifest) -> None:
        final = self.directory / manifest.filename
        os.chmod(staged, 0o600)
        os.replace(staged, final)
        self.write_manifest(manifest)
        _fsync_dir(self.directory)

    def write_manifest(self, manifest: Manifest) -> None:
        path = self.directory / manifest.manifest_name
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
        found = []
        for path in self.directory.glob("*" + MANIFEST_SUFFIX):
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(Manifest.from_json(json.loads(path.read_text("utf-8"))))
        return sorted(found, key=lambda m: m.created_at, reverse=True)

    @contextlib.contextmanager
    def local_copy(self, manifest: Manifest) -> Iterator[Path]:
        yield self.directory / manifest.filename

    def delete(self, manifest: Manifest) -> None:
        (self.directory / manifest.filename).unlink(missing_ok=True)
        (self.directory / manifest.manifest_name).unlink(missing_ok=True)

    def location(self, manifest: Manifest) -> str:
        return str(self.directory / manifest.filename)


class DjangoStorageStore(BackupStore):
    """Backups in a Django storage (``STORAGES["safemigrate"]``).

    The backup is written and verified in a private local directory first,
    uploaded, then read back from the storage in full and compared with the
    local checksum before its manifest is written.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.description = f"STORAGES['safemigrate'] ({type(storage).__name__})"

    @contextlib.contextmanager
    def staging(self, manifest: Manifest) -> Iterator[Path]:
        directory = Path(tempfile.mkdtemp(prefix="safemigrate-"))
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
        for name in files:
            if name.endswith(MANIFEST_SUFFIX):
                with (
                    contextlib.suppress(OSError, ValueError, TypeError),
                    self.storage.open(name, "rb") as handle,
                ):
                    found.append(Manifest.from_json(json.loads(handle.read())))
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
        for name in (manifest.filename, manifest.manifest_name):
            if self.storage.exists(name):
                self.storage.delete(name)

    def location(self, manifest: Manifest) -> str:
        return f"{self.description}: {manifest.filename}"


def get_store() -> BackupStore:
    if "safemigrate" in getattr(settings, "STORAGES", {}):
        return DjangoStorageStore(storages["safemigrate"])
    return LocalStore(conf.backup_dir)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
