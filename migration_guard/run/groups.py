"""A run on several databases, killed: recovered as one.

A run over several databases (:mod:`migration_guard.run.multi`) records one
ledger row per database, linked by a group id. Killed half-way, its
databases hold different parts of the deploy: the next run, and
``rollback --run N``, bring every database the group changed back, or
refuse and name the command that does, never one of them alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder

from migration_guard.backup.base import BackupError, Progress
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import (
    MigrationGuardError,
    RecoveryRequired,
    RestoreFailed,
)
from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import ledger
from migration_guard.run.locking import migration_lock
from migration_guard.run.markers import unfinished_restore, unfinished_text
from migration_guard.run.multi import ordered
from migration_guard.run.recovery import (
    Say,
    find_dead_runs,
    resolve,
    settled_run,
    step_label,
)

if TYPE_CHECKING:
    from migration_guard.backup.storage import BackupStore, Manifest


def killed_run(alias: str, pk: int | None, lock_timeout: float) -> MigrationRun | None:
    """Run ``pk`` of ``alias`` when it is an unresolved killed run on several
    databases (a run still recorded running is first checked under the lock,
    as the next run would); None also without ``pk`` or a ledger."""
    if pk is None or not ledger.has_table(alias):
        return None
    run = ledger.find_run(alias, pk)
    if not (run.runtime or {}).get("group"):
        return None
    run = settled_run(alias, pk, lock_timeout)
    return run if in_group(run) else None


@contextmanager
def group_locks(aliases: Iterable[str], lock_timeout: float) -> Iterator[None]:
    """Every database's migration lock, taken in ``settings.DATABASES`` order
    (as :func:`migration_guard.run.multi.run_many` takes them)."""
    with ExitStack() as locks:
        for alias in ordered(aliases):
            locks.enter_context(migration_lock(alias, lock_timeout))
        yield


def in_group(run: MigrationRun) -> bool:
    """Whether ``run`` is an unresolved killed run on several databases.

    Not one a signal ended: its run restored the group (:mod:`run.multi`).
    """
    runtime = run.runtime or {}
    return bool(
        run.outcome == Outcome.INTERRUPTED
        and runtime.get("killed")
        and runtime.get("group")
        and not runtime.get("resolved")
    )


@dataclass
class Member:
    """One database of an interrupted run on several databases (:mod:`run.multi`)."""

    alias: str
    run: MigrationRun
    #: how many steps of the run's plan the database holds done
    done: int

    @property
    def resolved(self) -> str:
        """How its run was resolved before (a restore, ``--mark-resolved``), or ""."""
        return str((self.run.runtime or {}).get("resolved") or "")

    @property
    def half(self) -> bool:
        """Its migration in progress was left half-done (no rollback), and
        neither a restore nor the operator resolved that since."""
        return bool((self.run.runtime or {}).get("needs_restore")) and not self.resolved

    @property
    def left_by_hand(self) -> bool:
        """Resolved, yet holding migrations of the run: ``--mark-resolved``
        kept it so (a restore brings it back before the run); the group's
        recovery neither judges nor restores it."""
        return bool(self.resolved) and self.done > 0

    @property
    def changed(self) -> bool:
        """Whether the group's restore must bring it back: the run changed
        it, and no one resolved it since (``--mark-resolved`` says it was
        dealt with by hand, without a restore: it is left so)."""
        return (self.done > 0 or self.half) and not self.resolved

    @property
    def complete(self) -> bool:
        return self.done == len(self.run.plan or []) and not self.half

    def line(self) -> str:
        run, total = self.run, len(self.run.plan or [])
        if self.left_by_hand:
            return (
                f"Database '{self.alias}' (run {run.pk}): {self.resolved}; "
                "left as it is."
            )
        if self.complete:
            what = f"completed its {total} migration(s)"
        elif self.half:
            step = (run.runtime or {}).get("in_progress") or "a migration"
            what = f"interrupted, half-migrated ({step} was cut short)"
        else:
            what = f"interrupted after {self.done} of its {total} migration(s)"
        backup = (
            f"pre-run backup {run.backup_id}"
            if run.backup_id
            else f"no pre-run backup ({run.backup_note or 'none was taken'})"
        )
        return f"Database '{self.alias}' (run {run.pk}): {what}; {backup}."


def _steps_done(alias: str, run: MigrationRun) -> int:
    applied = {
        f"{app}.{name}"
        for app, name in MigrationRecorder(connections[alias]).applied_migrations()
    }
    return sum(
        (step_label(step) in applied) != bool(step.get("backwards"))
        for step in run.plan or []
    )


def _refuse_half_restored(head: str, alias: str) -> None:
    """Refuse a member holding a restore that did not finish: its ledger and
    tables are part of a backup, what the run left there cannot be read."""
    marker = unfinished_restore(alias)
    if marker is not None:
        backup = marker["backup_id"] or "BACKUP_ID"
        raise RecoveryRequired(
            f"{head} database '{alias}' is half-restored. "
            f"{unfinished_text(alias, marker)} No database of the run was "
            "restored. Nothing was done. Restore it again first: manage.py "
            f"migrationbackups restore {backup} --database {alias}; then run again."
        )


def group_members(alias: str, run: MigrationRun, say: Say) -> list[Member]:
    """Every database of ``run``'s group, with what the run left in it.

    Raises RecoveryRequired when one of them is not configured here, cannot
    be reached, holds a restore that did not finish (a ``rollback --run``
    of the group killed while loading it: its ledger and tables are part of
    a backup, so what the run left there cannot be read), or its ledger lost
    the run: what it holds is unknown, so no database of the group may be
    restored without it.
    """
    runtime = run.runtime or {}
    databases: list[str] = list(runtime.get("databases") or [alias])
    head = (
        f"Run {run.pk} on database '{alias}' was one run on databases "
        f"{', '.join(databases)}, but"
    )
    unknown = "its state is unknown, so no database of the run was restored."
    tail = (
        f"{unknown} Nothing was done. Configure every database of the run in "
        "settings.DATABASES, then run again."
    )
    # a ledger that lost the run cannot get it back: only the operator can
    # say what the database holds (a restore would guess)
    by_hand = (
        f"{unknown} Nothing was done. Check every database of the run by hand "
        "and bring them to one state, then record it: manage.py rollback "
        f"--run {run.pk} --mark-resolved --database {alias}"
    )
    missing = [each for each in databases if each not in connections.settings]
    if missing:
        names = ", ".join(f"'{each}'" for each in missing)
        raise RecoveryRequired(
            f"{head} database {names} is not in settings.DATABASES: {tail}"
        )
    members = []
    for each in databases:
        try:
            _refuse_half_restored(head, each)
            found = (
                run
                if each == alias
                else MigrationRun.objects.using(each)
                .filter(runtime__group=runtime["group"])
                .first()
            )
            if found is not None and found.outcome == Outcome.RUNNING:
                find_dead_runs(each, say, [found])
            done = _steps_done(each, found) if found is not None else 0
        except DatabaseError as exc:
            raise RecoveryRequired(
                f"{head} database '{each}' cannot be read ({exc}): {unknown} "
                "Nothing was done. Run again once it can be read."
            ) from exc
        if found is None or found.outcome == Outcome.RUNNING:
            why = "has no run of it" if found is None else "still records it running"
            raise RecoveryRequired(
                f"{head} the ledger of database '{each}' {why}: {by_hand}"
            )
        members.append(Member(each, found, done))
    return members


def recover_group(
    alias: str, run: MigrationRun, say: Say, held: Collection[str]
) -> bool:
    """Recover interrupted ``run`` and the other runs of its group as one;
    whether databases were restored.

    A group whose databases all hold the whole deploy, or none of it, is
    consistent: its runs are resolved and the run goes on. Otherwise every
    database the group changed is restored from its pre-run backup when
    ``AUTO_RESTORE`` is ``always`` and this process holds every database's
    lock (taken in ``settings.DATABASES`` order by the caller), else the
    run stops (exit 7) naming ``rollback --run``, which does it.
    """
    members = group_members(alias, run, say)
    open_ = [m for m in members if not m.left_by_hand]
    if not any(m.changed for m in open_) or all(m.complete for m in open_):
        for member in members:
            if in_group(member.run):
                resolve(
                    member.run, "the run's databases were left consistent", member.alias
                )
        return False
    aliases = [m.alias for m in members]
    report = (
        f"Run {run.pk} on database '{alias}' was one run on databases "
        f"{', '.join(aliases)}, and its process was killed: the databases hold "
        "different parts of that deploy.\n  " + "\n  ".join(m.line() for m in members)
    )
    command = f"manage.py rollback --run {run.pk} --database {alias}"
    unlocked = [each for each in aliases if each not in {alias, *held}]
    if conf.AUTO_RESTORE == "always" and not unlocked:
        say("WARNING", report)
        restore_group(members, say=say, command="guardedmigrate")
        return True
    why = (
        f" AUTO_RESTORE is 'always', but this run does not hold the lock of "
        f"database(s) {', '.join(unlocked)}: run it on every database of the run."
        if conf.AUTO_RESTORE == "always"
        else ""
    )
    other_way = (
        "run guardedmigrate on all of them"
        if conf.AUTO_RESTORE == "always"
        else "set MIGRATION_GUARD['AUTO_RESTORE'] = 'always' and run guardedmigrate "
        "on all of them"
    )
    raise RecoveryRequired(
        f"{report}\nNothing was done.{why} Bring every database of the run back "
        f"to its state before it with: {command} (or {other_way})."
    )


def _checked_backups(changed: list[Member], store: BackupStore) -> dict[str, Manifest]:
    """Each changed member's pre-run backup, found and checked (before any
    restore: a member that cannot be brought back stops it all)."""
    from migration_guard.backup import guarded
    from migration_guard.backup.catalog import find

    for member in changed:
        if not member.run.backup_id:
            raise RecoveryRequired(
                f"{member.line()} It cannot be brought back by a restore: nothing "
                "was done. Undo the run on each database by hand, then record it "
                f"with: manage.py rollback --run {member.run.pk} --mark-resolved "
                f"--database {member.alias}"
            )
    manifests = {m.alias: find(m.run.backup_id, store) for m in changed}
    for member in changed:
        guarded.check(manifests[member.alias], member.alias, store)
    return manifests


def restore_group(
    members: list[Member],
    *,
    say: Say,
    command: str,
    lock_timeout: float | None = None,
    argv: list[str] | None = None,
    progress: Callable[[str], Progress | None] = lambda label: None,
) -> list[str]:
    """Restore every member the group changed (the last database first);
    resolve every member's run. The caller holds every member's lock.

    Every backup is found and checked before any restore: a member that
    cannot be brought back stops it before anything is changed.
    """
    from migration_guard.backup import guarded
    from migration_guard.backup.storage import get_store

    store = get_store()
    changed = [m for m in members if m.changed]
    manifests = _checked_backups(changed, store)
    lines: list[str] = []
    for member in reversed(changed):
        manifest = manifests[member.alias]
        say(
            "MIGRATE_HEADING",
            f"Restoring database '{member.alias}' from the pre-run backup "
            f"{manifest.id} of run {member.run.pk}:",
        )
        try:
            done = guarded.restore(
                member.alias,
                manifest,
                store=store,
                lock_timeout=float(
                    conf.LOCK_TIMEOUT if lock_timeout is None else lock_timeout
                ),
                command=command,
                argv=argv if argv is not None else list(sys.argv),
                say=say,
                progress=progress,
                locked=True,
            )
        except (BackupError, MigrationGuardError) as exc:
            raise RestoreFailed(
                f"Restoring database '{member.alias}' from {manifest.id} failed: "
                f"{exc} Restored before it: {', '.join(lines) or 'none'}. Restore "
                f"it with: manage.py migrationbackups restore {manifest.id} "
                f"--database {member.alias}"
            ) from exc
        resolve(
            member.run,
            f"restored from {manifest.id} by run {done.run.pk}",
            member.alias,
        )
        lines.append(f"database '{member.alias}' from {manifest.id}")
    for member in members:
        if not member.changed and in_group(member.run):
            resolve(member.run, "not changed by the run", member.alias)
    return lines
