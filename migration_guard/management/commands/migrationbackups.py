"""``manage.py migrationbackups``: the catalogue of verified backups."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.db import connections

from migration_guard.backup import catalog, guarded, identity
from migration_guard.backup.base import BackupError
from migration_guard.backup.scoped import describe_scope
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import BackupFailed, UsageError
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.management.render import human_size, table
from migration_guard.run import markers
from migration_guard.run.locking import migration_lock
from migration_guard.run.planning import check_alias
from migration_guard.run.progress import restore_total
from migration_guard.run.runner import quiet

ACTIONS = ("list", "show", "verify", "create", "restore", "prune", "pin", "unpin")
NEEDS_ID = ("show", "verify", "restore", "pin", "unpin")


class Command(MigrationGuardCommand):
    help = "List, show, verify, create, restore, prune and pin backups."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_database_argument(parser)
        self.add_format_argument(parser)
        self.add_noinput_argument(parser, "Do not ask for confirmation (restore).")
        self.add_lock_timeout_argument(parser)
        parser.add_argument(
            "action",
            choices=ACTIONS,
            help="list [--all] | show ID | verify ID | create | restore ID "
            "[--into-other-database] | prune [--keep N] [--dry-run] | pin ID | "
            "unpin ID",
        )
        parser.add_argument("backup_id", nargs="?", metavar="ID", help="A backup id.")
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            metavar="N",
            help="prune: backups to keep (default MIGRATION_GUARD['KEEP']).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="prune: only show what would go."
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="all_databases",
            help="list: also the backups of other databases in the store, marked.",
        )
        parser.add_argument(
            "--into-other-database",
            action="store_true",
            help="restore: replace this database's content with a backup of "
            "another database (refused otherwise, exit 4).",
        )
        parser.add_argument(
            "--no-owner",
            action="store_true",
            help="restore (PostgreSQL): do not restore object ownership.",
        )
        parser.add_argument(
            "--no-privileges",
            action="store_true",
            help="restore (PostgreSQL): do not restore grants.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.as_json = options["format"] == "json"
        self.alias = options["database"]
        check_alias(self.alias)
        self.store = get_store()
        action = options["action"]
        if (options["backup_id"] is None) == (action in NEEDS_ID):
            raise UsageError(
                f"'migrationbackups {action}' "
                + ("needs a backup ID" if action in NEEDS_ID else "takes no backup ID")
                + "; 'manage.py migrationbackups list' shows the ids."
            )
        getattr(self, f"do_{action}")(options)

    # -- helpers ---------------------------------------------------------
    def _emit(self, document: Any, lines: list[str]) -> None:
        if self.as_json:
            self.write_json(document)
        else:
            for line in lines:
                self.stdout.write(line)

    def _describe(self, manifest: Manifest) -> list[str]:
        return [
            f"Backup {manifest.id}" + (" (pinned)" if manifest.pinned else ""),
            f"  Database: {manifest.alias} ({_source(manifest)})",
            f"  Created: {manifest.created_at} ({manifest.reason}"
            + (f", run {manifest.run_id})" if manifest.run_id else ")"),
            f"  File: {self.store.location(manifest)}",
            f"  Format: {manifest.format}, {human_size(manifest.size)}, sha256 "
            f"{manifest.sha256}",
            f"  Versions: server {manifest.server_version}, client "
            f"{manifest.client_version}",
            f"  Applied before: {_count(manifest.applied_before)}",
            f"  Plan: {_count(manifest.plan)}",
            f"  Holds: {_holds(manifest)}",
        ]

    def _timeout(self, options: dict[str, Any]) -> float:
        value = options["lock_timeout"]
        return float(conf.LOCK_TIMEOUT if value is None else value)

    # -- actions -----------------------------------------------------------
    def do_list(self, options: dict[str, Any]) -> None:
        current = identity.database_identity(self.alias)
        every = self.store.manifests()
        mine = {m.id for m in every if identity.belongs_to(m, self.alias, current)}
        shown = [m for m in every if options["all_databases"] or m.id in mine]
        header = ["ID", "CREATED", "SIZE", "REASON", "RUN", "PINNED"]
        rows = [header + (["DATABASE"] if options["all_databases"] else [])]
        for m in shown:
            row = [
                m.id,
                m.created.strftime("%Y-%m-%d %H:%M:%S"),
                human_size(m.size),
                m.reason,
                str(m.run_id or "-"),
                "yes" if m.pinned else "",
            ]
            if options["all_databases"]:
                row.append("this" if m.id in mine else f"other: {_source(m)}")
            rows.append(row)
        lines = (
            table(rows)
            if shown
            else [f"No backups of database '{self.alias}' in {self.store.description}."]
        )
        lines += [
            f"Skipped a manifest that is not well-formed: {reason}"
            for reason in self.store.rejected
        ]
        self._emit(
            {
                "database": self.alias,
                "identity": current,
                "backups": [
                    {**m.as_json(), "this_database": m.id in mine} for m in shown
                ],
                "rejected": self.store.rejected,
            },
            lines,
        )

    def do_show(self, options: dict[str, Any]) -> None:
        manifest = catalog.find(options["backup_id"], self.store)
        self._emit(manifest.as_json(), self._describe(manifest))

    def do_verify(self, options: dict[str, Any]) -> None:
        manifest = catalog.find(options["backup_id"], self.store)
        catalog.verify_backup(manifest, self.store)
        self._emit(
            {"id": manifest.id, "verified": True, "size": manifest.size},
            [
                f"Backup {manifest.id} verified: {human_size(manifest.size)}, sha256 "
                f"matches, complete {manifest.format} file."
            ],
        )

    def do_create(self, options: dict[str, Any]) -> None:
        with migration_lock(self.alias, self._timeout(options)):
            # a half-restored database is no backup: it would become the newest
            markers.refuse_unfinished_restore(self.alias)
            manifest = self._take(reason="manual")
        self._emit(
            manifest.as_json(),
            [
                f"Backed up database '{self.alias}' to "
                f"{self.store.location(manifest)} ({human_size(manifest.size)}, "
                f"sha256 verified, {manifest.seconds:.2f}s).",
                f"Backup id: {manifest.id}",
            ],
        )

    def _take(self, reason: str) -> Manifest:
        try:
            return catalog.create_backup(
                self.alias,
                reason=reason,
                applied_before=guarded.applied_now(self.alias),
                progress=None if self.as_json else self.progress("Backing up"),
                store=self.store,
            )
        except BackupError as exc:
            raise BackupFailed(
                f"The backup of database '{self.alias}' failed: {exc}"
            ) from exc

    def do_restore(self, options: dict[str, Any]) -> None:
        manifest = catalog.find(options["backup_id"], self.store)
        other = guarded.check(
            manifest,
            self.alias,
            self.store,
            into_other=options["into_other_database"],
        )
        name = connections[self.alias].settings_dict.get("NAME")
        if options["interactive"]:
            self.tell(
                [
                    *self._describe(manifest),
                    *(
                        [self.style.WARNING(f"A backup of {_source(manifest)}.")]
                        if other
                        else []
                    ),
                    self.style.WARNING(
                        f"This replaces {_replaced(manifest)} in database "
                        f"'{self.alias}' ({name}) with the backup. A safety backup "
                        "of the current state is taken first."
                    ),
                ],
                as_json=self.as_json,
            )
            if not self.confirm("Restore it?"):
                raise UsageError("Restore cancelled; nothing was changed.")
        done = guarded.restore(
            self.alias,
            manifest,
            store=self.store,
            lock_timeout=self._timeout(options),
            command="migrationbackups restore",
            argv=self.invocation(options),
            say=self.say if not self.as_json and self.verbosity >= 1 else quiet,
            progress=lambda label: (
                None
                if self.as_json
                else self.progress(label, restore_total(label, manifest))
            ),
            no_owner=options["no_owner"],
            no_privileges=options["no_privileges"],
            into_other=other,
        )
        self._emit(
            {
                "restored": manifest.id,
                "safety_backup": done.safety.id,
                "run_id": done.run.pk,
            },
            [f"Safety backup of the replaced state: {done.safety.id}"],
        )
        if not self.as_json and self.verbosity >= 1:
            self.say_ledger(done.run)

    def do_prune(self, options: dict[str, Any]) -> None:
        keep = conf.KEEP if options["keep"] is None else options["keep"]
        if keep < 1:
            raise UsageError("--keep must be at least 1: the newest backup stays.")
        # the backup an unfinished restore names is the way back
        markers.refuse_unfinished_restore(self.alias)
        removed = catalog.prune(
            self.alias, keep, dry_run=options["dry_run"], store=self.store
        )
        verb = "Would remove" if options["dry_run"] else "Removed"
        lines = [
            f"{verb} {m.id} ({human_size(m.size)}, {m.created_at})" for m in removed
        ]
        lines = lines or [f"Nothing to prune: at most {keep} unpinned backups kept."]
        self._emit(
            {"dry_run": options["dry_run"], "removed": [m.id for m in removed]}, lines
        )

    def do_pin(self, options: dict[str, Any], pinned: bool = True) -> None:
        manifest = catalog.find(options["backup_id"], self.store)
        catalog.set_pinned(manifest, pinned, self.store)
        state = "pinned: retention never removes it" if pinned else "unpinned"
        self._emit({"id": manifest.id, "pinned": pinned}, [f"{manifest.id} {state}."])

    def do_unpin(self, options: dict[str, Any]) -> None:
        self.do_pin(options, pinned=False)


def _holds(manifest: Manifest) -> str:
    """What the backup holds: the whole database, or the plan's tables."""
    if not manifest.scope:
        return "the whole database"
    created = len(manifest.scope) - len(manifest.scope_tables)
    return (
        f"the plan's {describe_scope(manifest.scope_tables)}"
        + (f" (and drops {created} the plan created)" if created else "")
        + f"; {len(manifest.relations)} foreign key"
        + "s" * (len(manifest.relations) != 1)
        + " to or from other tables recorded"
    )


def _replaced(manifest: Manifest) -> str:
    if not manifest.scope:
        return "everything"
    return f"the plan's {len(manifest.scope)} tables (and nothing else)"


def _source(manifest: Manifest) -> str:
    return identity.describe(
        manifest.identity, f"{manifest.vendor} {manifest.database}, no identity"
    )


def _count(items: list[Any]) -> str:
    return f"{len(items)} migration{'s' if len(items) != 1 else ''}"
