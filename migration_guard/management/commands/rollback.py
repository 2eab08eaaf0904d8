"""``manage.py rollback --last / --run ID``: undo a recorded guardedmigrate run."""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from typing import Any

from django.core.management.base import CommandParser
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from migration_guard.backup import guarded
from migration_guard.backup.storage import Manifest, get_store
from migration_guard.conf import migration_guard_settings as conf
from migration_guard.exceptions import (
    MigrationGuardError,
    RestoreRequired,
    UsageError,
)
from migration_guard.management import render
from migration_guard.management.base import MigrationGuardCommand
from migration_guard.models import MigrationRun, Outcome
from migration_guard.rollback.preview import Preview, Strategy, build_preview
from migration_guard.rollback.strategy import (
    RollbackTarget,
    available_backups,
    rollback_plan,
    strategy_for,
)
from migration_guard.run import execution, groups, ledger, multi, recovery, runner
from migration_guard.run.locking import migration_lock
from migration_guard.run.planning import Plan
from migration_guard.run.progress import restore_total
from migration_guard.run.runner import quiet


def models_ahead(alias: str) -> dict[str, list[str]]:
    """Apps whose code has migrations the database does not have applied."""
    loader = MigrationLoader(connections[alias])
    ahead: dict[str, list[str]] = {}
    for app, name in sorted(set(loader.graph.nodes) - set(loader.applied_migrations)):
        ahead.setdefault(app, []).append(name)
    return ahead


def ahead_warning(alias: str) -> list[str]:
    ahead = models_ahead(alias)
    if not ahead:
        return []
    apps = ", ".join(repr(app) for app in ahead)
    pending = ", ".join(f"{a}.{n}" for a, names in ahead.items() for n in names)
    return [
        f"Your models in app(s) {apps} are ahead of database '{alias}': the code "
        f"still contains the migrations just unapplied ({pending}).",
        "Deploy the code that matches this database, or 'manage.py guardedmigrate' "
        "will apply them again; until then, model and schema do not match.",
    ]


def restored_document(
    backup_id: str, done: guarded.Restored, run: MigrationRun
) -> dict[str, Any]:
    """What ``--format json`` says of a run undone by a restore."""
    return {
        "outcome": "restored",
        "strategy": "restore",
        "backup": backup_id,
        "safety_backup": done.safety.id,
        "run_id": done.run.pk,
        "undone_run": run.pk,
    }


@dataclass
class Decision:
    """How one database's run is undone."""

    alias: str
    plan: Plan
    run: MigrationRun
    preview: Preview
    strategy: Strategy
    #: restore or unapply
    chosen: str


class Command(MigrationGuardCommand):
    help = (
        "Undo a recorded guardedmigrate run: unapply what it applied, or restore "
        "the backup taken before it when the plan is irreversible."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--last", action="store_true", help="Undo the latest successful run."
        )
        parser.add_argument("--run", type=int, metavar="ID", help="Undo ledger run ID.")
        parser.add_argument(
            "--strategy",
            choices=("auto", "unapply", "restore"),
            default="auto",
            help="auto: unapply when every operation can be undone, else restore.",
        )
        self.add_noinput_argument(
            parser, "Do not ask for confirmation (the preview is still shown)."
        )
        self.add_lock_timeout_argument(parser)
        parser.add_argument(
            "--mark-resolved",
            action="store_true",
            help="With --run ID of an interrupted run: record that the database "
            "was repaired by hand, without restoring (the ledger keeps who and "
            "when); guardedmigrate runs again afterwards.",
        )
        parser.add_argument(
            "--no-backup",
            action="store_true",
            help="unapply: do not take a backup first (the ledger records it).",
        )
        self.add_database_argument(parser)
        self.add_format_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        alias = options["database"]
        if not (options["last"] or options["run"] is not None):
            raise UsageError("Say which run to undo: --last or --run ID.")
        as_json = options["format"] == "json"
        if options["mark_resolved"]:
            self._mark_resolved(alias, options, as_json)
            return
        if self._recover_group(alias, options, as_json):
            return
        interrupted = self._interrupted_run(alias, options)
        if interrupted is not None:
            self._restore_interrupted(alias, interrupted, options, as_json)
            return
        target = RollbackTarget(last=options["last"], run_id=options["run"])
        linked = self._linked(alias, options)
        if len(linked) > 1:  # one run on several databases: undone on all
            self._rollback_group(linked, options, as_json)
            return
        decision = self._decide(alias, target, options)
        run = decision.run
        if not decision.preview.migrations:
            self._finish(as_json, {"outcome": "noop", "run_id": run.pk}, alias)
            return
        self._show(decision, options, as_json)
        if options["interactive"]:
            strategy = decision.strategy
            what = (
                f"Restore backup {strategy.backup.id}?"  # type: ignore[union-attr]
                if decision.chosen == "restore"
                else f"Unapply {len(decision.preview.migrations)} migrations?"
            )
            if not self.confirm(what):
                raise UsageError("Rollback cancelled; nothing was changed.")
        self._finish(as_json, self._carry_out(decision, options, as_json), alias)

    @staticmethod
    def _linked(alias: str, options: dict[str, Any]) -> list[tuple[str, MigrationRun]]:
        """The runs of the run to undo, one per database (:mod:`run.multi`)."""
        if options["last"] and options["run"] is not None:
            return []  # rollback_plan says: not both
        if not ledger.has_table(alias):
            return []
        return multi.linked_runs(ledger.find_run(alias, options["run"]))

    def _decide(
        self, alias: str, target: RollbackTarget, options: dict[str, Any]
    ) -> Decision:
        """How run ``target`` of ``alias`` is undone; refuse what cannot be."""
        plan, run = rollback_plan(alias, target)
        assert run is not None  # a plan by run always names its run
        preview = build_preview(plan)
        strategy = strategy_for(alias, preview, run)
        chosen = strategy.name if options["strategy"] == "auto" else options["strategy"]
        if chosen == "restore" and strategy.backup is None:  # asked for, not chosen
            backups = available_backups(alias, preview, run)
            strategy = replace(strategy, backup=backups[0] if backups else None)
        if not preview.migrations:
            return Decision(alias, plan, run, preview, strategy, chosen)
        if chosen == "unapply" and preview.irreversible:
            raise RestoreRequired(
                f"Run {run.pk} cannot be undone by unapplying: "
                + ", ".join(m.label for m in preview.irreversible)
                + " cannot be reversed. Use --strategy restore"
                + (f" (backup {strategy.backup.id})." if strategy.backup else ".")
            )
        if chosen == "restore" and strategy.backup is None:
            raise UsageError(
                f"Run {run.pk} has no backup to restore (it ran with "
                f"'{run.backup_note or 'no backup'}'), so it cannot be undone by "
                "restoring; nothing was changed."
            )
        return Decision(alias, plan, run, preview, strategy, chosen)

    def _show(self, decision: Decision, options: dict[str, Any], as_json: bool) -> None:
        if self.verbosity >= 1 and (not as_json or options["interactive"]):
            self.tell(
                render.preview_lines(
                    decision.preview, decision.strategy, decision.run, self.style
                ),
                as_json=as_json,
            )

    def _carry_out(
        self, decision: Decision, options: dict[str, Any], as_json: bool
    ) -> dict[str, Any]:
        """Undo the run as decided; the document of what was done."""
        each = {**options, "database": decision.alias}
        if decision.chosen == "restore":
            assert decision.strategy.backup is not None
            return self._restore(decision.strategy.backup, decision.run, each, as_json)
        return self._unapply(decision.plan, decision.run, each, as_json)

    def _rollback_group(
        self,
        linked: list[tuple[str, MigrationRun]],
        options: dict[str, Any],
        as_json: bool,
    ) -> None:
        """Undo the runs of one run on several databases, the last database first.

        Every database's way back is decided first: if one cannot be undone,
        nothing is changed on any.
        """
        decisions = []
        for alias, row in reversed(linked):
            try:
                decisions.append(
                    self._decide(alias, RollbackTarget(run_id=row.pk), options)
                )
            except MigrationGuardError as exc:
                raise type(exc)(
                    f"Database '{alias}': {exc} The run was one run on databases "
                    f"{', '.join(a for a, _ in linked)}; none was changed.",
                    returncode=exc.returncode,
                ) from exc
        active = [d for d in decisions if d.preview.migrations]
        for decision in active:
            self._show(decision, options, as_json)
        names = ", ".join(f"'{d.alias}' (run {d.run.pk})" for d in active)
        if (
            active
            and options["interactive"]
            and not self.confirm(f"Undo the run on databases {names}?")
        ):
            raise UsageError("Rollback cancelled; nothing was changed.")
        documents: list[dict[str, Any]] = []
        for decision in active:
            try:
                documents.append(
                    {
                        "database": decision.alias,
                        **self._carry_out(decision, options, as_json),
                    }
                )
            except MigrationGuardError as exc:
                raise type(exc)(
                    f"{exc}\nUndone before: "
                    + (
                        ", ".join(f"database '{d['database']}'" for d in documents)
                        or "none"
                    ),
                    returncode=exc.returncode,
                ) from exc
        self._finish_group(as_json, documents, [alias for alias, _ in linked])

    def _finish_group(
        self, as_json: bool, documents: list[dict[str, Any]], aliases: list[str]
    ) -> None:
        if as_json:
            self.write_json(
                {
                    "outcome": "noop" if not documents else "undone",
                    "databases": documents,
                    "models_ahead": {alias: models_ahead(alias) for alias in aliases},
                }
            )
            return
        if not documents:
            self.stdout.write("Nothing to undo: the run's migrations are not applied.")
        for alias in aliases:
            for line in ahead_warning(alias):
                self.stdout.write(self.style.WARNING(line))
        if self.verbosity >= 1:
            for document in documents:
                self.say_ledger(
                    MigrationRun.objects.using(document["database"]).get(
                        pk=document["run_id"]
                    )
                )

    def _restore(
        self,
        backup: Manifest,
        run: MigrationRun,
        options: dict[str, Any],
        as_json: bool,
    ) -> dict[str, Any]:
        """Undo ``run`` by restoring ``backup``, the one taken before it."""
        alias = options["database"]
        guarded.check(backup, alias, get_store())
        done = guarded.restore(
            alias,
            backup,
            store=get_store(),
            lock_timeout=self._lock_timeout(options),
            command="rollback",
            argv=self.invocation(options),
            say=self.say if not as_json and self.verbosity >= 1 else quiet,
            progress=lambda label: (
                None if as_json else self.progress(label, restore_total(label, backup))
            ),
        )
        return restored_document(backup.id, done, run)

    def _recover_group(
        self, alias: str, options: dict[str, Any], as_json: bool
    ) -> bool:
        """Run ``--run ID`` when it is an interrupted run on several databases:
        every database it changed is restored, under every database's lock
        taken in ``settings.DATABASES`` order; whether it was one.

        The run was killed: its databases hold different parts of it, and
        undoing only the one named would leave them apart.
        """
        timeout = self._lock_timeout(options)
        run = groups.killed_run(alias, options["run"], timeout)
        if run is None:
            return False
        aliases = [m.alias for m in groups.group_members(alias, run, quiet)]
        say = self.say if not as_json and self.verbosity >= 1 else quiet
        with groups.group_locks(aliases, timeout):
            run.refresh_from_db(using=alias)
            members = groups.group_members(alias, run, say)
            if not as_json and self.verbosity >= 1:
                for member in members:
                    self.stdout.write(member.line())
            if options["interactive"] and not self.confirm(
                f"Run {run.pk} was one run on databases {', '.join(aliases)}, "
                "killed half-way. Restore every database it changed?"
            ):
                raise UsageError("Rollback cancelled; nothing was changed.")
            restored = groups.restore_group(
                members,
                say=say,
                command="rollback",
                lock_timeout=timeout,
                argv=self.invocation(options),
                progress=lambda label: None if as_json else self.progress(label),
            )
        if as_json:
            self.write_json({"outcome": "restored", "restored": restored})
        elif self.verbosity >= 1:
            self.stdout.write(
                f"Run {run.pk}: restored {', '.join(restored) or 'nothing'}; "
                "every database of the run is back to its state before it."
            )
        return True

    def _interrupted_run(self, alias: str, options: dict[str, Any]) -> Any:
        """Run ``--run ID`` when it was interrupted half-way and is not resolved.

        Its plan cannot be unapplied (part of a migration is applied), so the
        only way back is its pre-run backup, whatever ``--strategy`` says.
        """
        if options["run"] is None or not ledger.has_table(alias):
            return None
        ledger.ensure_table(alias)
        run = recovery.settled_run(alias, options["run"], self._lock_timeout(options))
        runtime = run.runtime or {}
        if run.outcome != Outcome.INTERRUPTED or not runtime.get("needs_restore"):
            return None
        if runtime.get("resolved"):
            raise UsageError(
                f"Run {run.pk} was interrupted and is resolved already "
                f"({runtime['resolved']}); nothing was changed."
            )
        if options["strategy"] == "unapply":
            raise RestoreRequired(
                f"Run {run.pk} was interrupted while {runtime.get('in_progress')} "
                "was half-done: only its pre-run backup brings the database "
                f"back. Use --strategy restore (backup {run.backup_id or 'none'})."
            )
        if not run.backup_id:
            raise UsageError(
                f"Run {run.pk} has no backup to restore ({run.backup_note or 'none'}"
                "); repair the schema by hand, then: manage.py rollback --run "
                f"{run.pk} --mark-resolved"
            )
        return run

    def _restore_interrupted(
        self, alias: str, run: Any, options: dict[str, Any], as_json: bool
    ) -> None:
        if options["interactive"] and not self.confirm(
            f"Run {run.pk} was interrupted half-way. Restore its pre-run backup "
            f"{run.backup_id}?"
        ):
            raise UsageError("Rollback cancelled; nothing was changed.")
        say = self.say if not as_json and self.verbosity >= 1 else quiet
        done = recovery.restore_interrupted(
            alias,
            run,
            say=say,
            locked=False,
            lock_timeout=self._lock_timeout(options),
            argv=self.invocation(options),
            command="rollback",
            progress=lambda label: None if as_json else self.progress(label),
        )
        self._finish(as_json, restored_document(run.backup_id, done, run), alias)

    def _mark_resolved(
        self, alias: str, options: dict[str, Any], as_json: bool
    ) -> None:
        if options["run"] is None:
            raise UsageError("--mark-resolved needs --run ID (an interrupted run).")
        with migration_lock(alias, self._lock_timeout(options)):
            if ledger.has_table(alias):
                ledger.ensure_table(alias)
                recovery.find_dead_runs(alias, quiet)
            run = ledger.find_run(alias, options["run"])
            if run.outcome != Outcome.INTERRUPTED:
                raise UsageError(
                    f"Run {run.pk} is not an interrupted run (it is "
                    f"'{run.outcome}'); only those can be marked resolved."
                )
            how = (
                f"marked resolved without a restore by {ledger.current_user()} "
                f"on {socket.gethostname()} at {timezone.now():%Y-%m-%d %H:%M:%S} UTC"
            )
            recovery.resolve(run, how, alias)
        if as_json:
            self.write_json({"outcome": "resolved", "run_id": run.pk, "resolved": how})
        else:
            self.stdout.write(f"Run {run.pk}: {how}.")

    @staticmethod
    def _lock_timeout(options: dict[str, Any]) -> float:
        if options["lock_timeout"] is None:
            return float(conf.LOCK_TIMEOUT)
        return float(options["lock_timeout"])

    def _unapply(
        self, plan: Plan, run: Any, options: dict[str, Any], as_json: bool
    ) -> dict[str, Any]:
        request = runner.RunRequest(
            alias=plan.executor.connection.alias,
            targets=tuple(plan.resolution.targets),
            expected=plan.keys(),
            no_backup=options["no_backup"],
            lock_timeout=options["lock_timeout"],
            argv=self.invocation(options),
            command="rollback",
        )

        def execute(locked: Plan, journal: execution.Journal) -> None:
            execution.execute_plan(
                locked,
                journal,
                verbosity=0 if as_json else self.verbosity,
                interactive=options["interactive"],
                stdout=self.stdout,
            )

        result = runner.run(
            request,
            execute,
            say=self.say if not as_json and self.verbosity >= 1 else quiet,
            progress=None if as_json else self.progress("Backing up"),
            announce=None if as_json or self.verbosity < 1 else self.plan_progress(),
        )
        return {
            "outcome": result.outcome,
            "strategy": "unapply",
            "run_id": result.run.pk,
            "undone_run": run.pk,
            "unapplied": [f"{e['app']}.{e['name']}" for e in result.journal.executed],
            "backup": result.backup.id if result.backup else None,
        }

    def _finish(self, as_json: bool, document: dict[str, Any], alias: str) -> None:
        warning = ahead_warning(alias)
        if as_json:
            self.write_json({**document, "models_ahead": models_ahead(alias)})
            return
        if document["outcome"] == "noop":
            self.stdout.write("Nothing to undo: the run's migrations are not applied.")
        for line in warning:
            self.stdout.write(self.style.WARNING(line))
        if self.verbosity >= 1 and document.get("undone_run") is not None:
            self.say_ledger(
                MigrationRun.objects.using(alias).get(pk=document["run_id"])
            )
