"""``guardedmigrate`` on several databases: ``--database`` repeated, or all.

One value of ``--database`` keeps Django's meaning (``options["database"]``
is the alias); several make it the list of aliases, as
``call_command("guardedmigrate", database=[...])`` does. The run itself is
:func:`migration_guard.run.multi.run_many`.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections

from migration_guard.compat.management import parser_actions, retype_action
from migration_guard.exceptions import UsageError
from migration_guard.management.render import duration_text, run_document
from migration_guard.run import multi, runner
from migration_guard.run.planning import TargetSpec

if TYPE_CHECKING:
    from migration_guard.management.commands.guardedmigrate import Command

#: what a run on several databases does not go with: flag, option
SEVERAL_REFUSES = (
    ("--plan", "plan"),
    ("--check", "check_unapplied"),
    ("--rehearse", "rehearse"),
    ("--fake", "fake"),
    ("--fake-initial", "fake_initial"),
    ("--force-fake", "force_fake"),
    ("--prune", "prune"),
    ("--phase", "phase"),
)


class DatabaseOption(argparse.Action):
    """``--database ALIAS``; given again, the value becomes the list of aliases."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, "_database_given", False):
            current = getattr(namespace, self.dest)
            given = current if isinstance(current, list) else [current]
            setattr(namespace, self.dest, [*given, values])
        else:
            setattr(namespace, self.dest, values)
            namespace._database_given = True


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """Make migrate's ``--database`` repeatable; add ``--all-databases``."""
    for action in parser_actions(parser):
        if action.dest == "database":
            retype_action(action, DatabaseOption)
            action.help = (
                'Nominates a database to synchronize. Defaults to the "default" '
                "database. Give it several times to migrate several databases "
                "in one run (README: Several databases in one run)."
            )
    parser.add_argument(
        "--all-databases",
        action="store_true",
        help="Migrate every database of settings.DATABASES in one run, in that "
        "order: all locked, all backed up before any is changed, all restored "
        "when one fails.",
    )


def aliases_of(options: dict[str, Any]) -> list[str]:
    """The aliases the options name, in the order of ``settings.DATABASES``."""
    database = options["database"]
    named = list(database) if isinstance(database, (list, tuple)) else [database]
    if options.get("all_databases"):
        given = options.get("_database_given") or database != DEFAULT_DB_ALIAS
        if given:
            raise UsageError("Give either --database or --all-databases, not both.")
        named = list(connections.settings)
    return multi.ordered(named)


def refuse_for_several(aliases: list[str], options: dict[str, Any]) -> None:
    """The options a run on several databases does not go with."""
    refused = [flag for flag, key in SEVERAL_REFUSES if options.get(key)]
    if refused:
        raise UsageError(
            f"A run on several databases ({', '.join(aliases)}) does not go with "
            f"{', '.join(refused)}; run it on one database at a time "
            "(--database ALIAS)."
        )


def run_several(
    command: Command,
    aliases: list[str],
    spec: TargetSpec,
    args: tuple[Any, ...],
    options: dict[str, Any],
) -> None:
    """The guarded run of ``spec`` on every database of ``aliases``."""
    from migration_guard.management.commands.guardedmigrate import run_request

    refuse_for_several(aliases, options)
    as_json = options["format"] == "json"
    started = time.monotonic()
    requests = []
    for alias in aliases:
        each = {**options, "database": alias}
        expected = command._confirm_backwards(alias, spec, each, as_json)
        requests.append(
            run_request(
                alias, spec, each, argv=command.invocation(options), expected=expected
            )
        )
    log = io.StringIO()
    command._run_log = (", ".join(aliases), log)
    talk = not as_json and command.verbosity >= 1
    result = multi.run_many(
        requests,
        lambda alias: command._execute(
            args, {**options, "database": alias}, log, as_json
        ),
        say=command.say if talk else runner.quiet,
        progress=None if as_json else command.progress("Backing up"),
        announce=command.plan_progress() if talk else None,
    )
    command._run_log = None
    if as_json:
        command.write_json(
            {
                "group": result.group,
                "databases": aliases,
                "runs": [run_document(each.run) for each in result.results],
                "seconds": round(time.monotonic() - started, 6),
                "log": log.getvalue().splitlines(),
            }
        )
    elif command.verbosity >= 1:
        for done in result.results:
            run = done.run
            command.stdout.write(
                command.style.MIGRATE_HEADING("Ledger:")
                + f" run {run.pk} recorded on database '{run.alias}' "
                f"({run.get_outcome_display()}, {duration_text(run)})."
            )
