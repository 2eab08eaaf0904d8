"""Whether a plan-scoped backup still covers everything migrations changed since.

A scoped backup holds the tables of one plan. Once a migration outside that
plan has been applied or unapplied (a later deploy), the database differs
from the backup in tables the backup may not hold: restoring only the scope
would bring ``django_migrations`` back to before the plan while the later
migration's tables stay as it left them. Such a restore is refused
(exit 4); a full backup, or unapplying the later migrations first, is the
way back.

A restore of a scoped backup that did not finish (its marker is still
there) left the history as far as its load got, not as migrations left it:
restoring that backup again, or one that holds at least its tables (the
safety backup taken before it), is no such change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from migration_guard.backup.base import RESTORE_MARKER_TABLE
from migration_guard.exceptions import VerificationRefused

if TYPE_CHECKING:
    from migration_guard.backup.storage import Manifest


def outside_plan(
    manifest: Manifest,
    applied_now: Iterable[str],
    replaces: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """The migrations whose state changed since ``manifest`` was taken and
    that its plan does not hold (``"+app.name"`` applied, ``"-app.name"``
    unapplied), sorted. Empty for a whole-database backup. ``replaces``:
    what each squashed migration replaces (``migrate`` records both)."""
    if not manifest.scope:
        return []
    before = set(manifest.applied_before)
    now = set(applied_now)
    planned = {f"{step['app']}.{step['name']}" for step in manifest.plan}
    for key in list(planned):
        planned.update((replaces or {}).get(key, ()))
    changed = [f"+{key}" for key in now - before - planned]
    changed += [f"-{key}" for key in before - now - planned]
    return sorted(changed, key=lambda text: (text[1:], text[0]))


def check(manifest: Manifest, alias: str) -> None:
    """Refuse (exit 4) a scoped restore that could not undo what migrations
    outside its plan did since it was taken."""
    if not manifest.scope or _resumes_restore(manifest, alias):
        return
    changed = outside_plan(manifest, applied_migrations(alias), _replaces())
    if not changed:
        return
    shown = ", ".join(
        ("applied " if text[0] == "+" else "unapplied ") + text[1:]
        for text in changed[:5]
    ) + (f" (and {len(changed) - 5} more)" if len(changed) > 5 else "")
    raise VerificationRefused(
        f"Backup {manifest.id} holds only the tables of its plan, and migrations "
        f"outside that plan changed database '{alias}' since it was taken "
        f"({shown}): restoring it would leave their tables as they are now "
        "while the migration history goes back. Nothing was changed. Unapply "
        "those migrations first, or restore a backup of the whole database."
    )


def usable(manifest: Manifest, alias: str) -> bool:
    """Whether a restore of ``manifest`` passes :func:`check`."""
    try:
        check(manifest, alias)
    except VerificationRefused:
        return False
    return True


def applied_migrations(alias: str) -> list[str]:
    """``"app.name"`` of every migration recorded as applied on ``alias``."""
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return []
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


def _resumes_restore(manifest: Manifest, alias: str) -> bool:
    """Whether a restore marker names a backup whose tables ``manifest``
    holds too (itself, or the restore its safety backup was taken before)."""
    from migration_guard.backup.storage import get_store

    connection = connections[alias]
    with connection.cursor() as cursor:
        if RESTORE_MARKER_TABLE not in connection.introspection.table_names(cursor):
            return False
        cursor.execute(
            f"SELECT backup_id FROM {connection.ops.quote_name(RESTORE_MARKER_TABLE)}"
        )
        row = cursor.fetchone()
    marked = str(row[0]) if row else ""
    if marked == manifest.id:
        return True
    other = get_store().get(marked) if marked else None
    return other is not None and set(other.scope or ["*"]) <= set(manifest.scope)


def _replaces() -> dict[str, list[str]]:
    """What each squashed migration on disk replaces, by ``"app.name"``."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {
        f"{app}.{name}": [f"{a}.{n}" for a, n in migration.replaces]
        for (app, name), migration in loader.disk_migrations.items()
        if migration.replaces
    }
