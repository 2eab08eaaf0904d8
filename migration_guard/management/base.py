"""What every guardedmigrate command shares: --format, exit codes, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from migration_guard.compat.management import called_from_command_line, raw_stream
from migration_guard.exceptions import MigrationGuardError, UsageError
from migration_guard.management import pipes
from migration_guard.management.render import duration_text, to_json
from migration_guard.run import progress as progress_line


def seconds(text: str) -> float:
    """``--lock-timeout SECONDS``: a number of seconds, 0 or more (not NaN)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds"
        ) from None
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more seconds")
    return value


def add_seconds_argument(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """An option that takes a duration: ``SECONDS``, 0 or more, default None."""
    parser.add_argument(flag, type=seconds, default=None, metavar="SECONDS", help=help)


LOCK_TIMEOUT_HELP = (
    "Seconds to wait for the database's migration lock held by another run "
    "(default: MIGRATION_GUARD['LOCK_TIMEOUT'], 60; 0: do not wait); exit 3 when "
    "it runs out."
)


class MigrationGuardCommandMixin:
    """Mixed into every command of migration_guard.

    Usage errors from argparse exit 1 (the contract's "usage error") instead
    of argparse's own 2, which means "check failed" here.
    """

    stdout: Any
    stderr: Any
    style: Any
    _progress_shown = False
    _json_written = False

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        parser: CommandParser = super().create_parser(  # type: ignore[misc]
            prog_name, subcommand, **kwargs
        )
        django_error = parser.error

        def error(message: str) -> NoReturn:
            if parser.called_from_command_line:
                parser.print_usage(sys.stderr)
                parser.exit(1, f"{parser.prog}: error: {message}\n")
            django_error(message)  # raises CommandError (exit 1)
            raise AssertionError("unreachable")

        parser.error = error  # type: ignore[method-assign]
        # every command takes it (SPEC); those that ask define their own
        with contextlib.suppress(argparse.ArgumentError):
            self.add_noinput_argument(
                parser, "Do not ask anything (this command never asks)."
            )
        return parser

    @staticmethod
    def add_noinput_argument(parser: argparse.ArgumentParser, help: str) -> None:
        """``--noinput``/``--no-input``: what not asking means for the command."""
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help=help,
        )

    @staticmethod
    def add_format_argument(parser: argparse.ArgumentParser, *choices: str) -> None:
        parser.add_argument(
            "--format",
            choices=("text", "json", *choices),
            default="text",
            help="Output format; json prints exactly one JSON document on stdout.",
        )

    @staticmethod
    def add_database_argument(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='Nominates a database. Defaults to the "default" database.',
        )

    @staticmethod
    def add_lock_timeout_argument(parser: argparse.ArgumentParser) -> None:
        """``--lock-timeout SECONDS``, the same in every command that locks."""
        add_seconds_argument(parser, "--lock-timeout", LOCK_TIMEOUT_HELP)

    def say_ledger(self, run: Any) -> None:
        """The line every command that records a run prints after it."""
        self.stdout.write(
            self.style.MIGRATE_HEADING("Ledger:")
            + f" run {run.pk} recorded ({run.get_outcome_display()}, "
            f"{duration_text(run)})."
        )

    def invocation(self, options: dict[str, Any]) -> list[str]:
        """The command line of this run, for the ledger."""
        if called_from_command_line(self):
            return list(sys.argv)
        name = type(self).__module__.rsplit(".", 1)[-1]
        words = ["call_command", name]
        for key, value in sorted(options.items()):
            if key in ("stdout", "stderr", "skip_checks") or value in (None, False):
                continue
            words.append(f"{key}={value}")
        return words

    def say(self, style: str, text: str) -> None:
        """Write ``text`` in one of ``self.style``'s styles (e.g. MIGRATE_HEADING)."""
        if getattr(self, "_progress_shown", False):
            raw_stream(self.stderr).write("\r\033[K")  # clear the progress line
            self._progress_shown = False
        self.stdout.write(text, getattr(self.style, style))

    def progress(
        self, label: str, total: int | None = None
    ) -> Callable[[int], None] | None:
        """A byte counter with the rate on stderr, on a terminal only."""
        stream = getattr(self, "stderr", None)
        if stream is None:
            return None

        def shown() -> None:
            self._progress_shown = True

        return progress_line.byte_counter(
            raw_stream(stream), label, total=total, on_show=shown
        )

    def plan_progress(self) -> Callable[[int], Callable[[int], None] | None]:
        """For a plan of N migrations: ``[n/N, elapsed]`` before each, on a terminal."""
        return lambda total: progress_line.plan_counter(raw_stream(self.stdout), total)

    def confirm(self, question: str) -> bool:
        """Ask ``question`` on stderr; only "yes" says yes. No terminal means No.

        The question goes to stderr so stdout keeps exactly one JSON document
        with ``--format json``.
        """
        raw_stream(self.stderr).write(f"{question} Type 'yes' to continue [No]: ")
        self.stderr.flush()
        try:
            answer = input()
        except (EOFError, OSError):
            return False
        return answer.strip().lower() == "yes"

    def tell(self, lines: list[str], *, as_json: bool) -> None:
        """Lines for the person at the terminal: stdout, or stderr with json."""
        out = raw_stream(self.stderr if as_json else self.stdout)
        for line in lines:
            out.write(line + "\n")

    def write_json(self, document: Any) -> None:
        self.stdout.write(to_json(document))
        self._json_written = True

    def run_from_argv(self, argv: list[str]) -> None:
        """From a shell: a reader of stdout that goes away (``| head``) is no error."""
        try:
            super().run_from_argv(argv)  # type: ignore[misc]
        finally:
            pipes.flush_quietly(sys.stdout)

    def execute(self, *args: Any, **options: Any) -> Any:
        """Run the command; an error ends it here, the one place for all of them.

        A domain error (:mod:`migration_guard.exceptions`) or a ``CommandError``
        is reported (:meth:`report_failure`) and leaves as a ``CommandError``
        with its exit status (:func:`as_command_error`).
        """
        from migration_guard.run import interrupts

        self._json_written = False
        if called_from_command_line(self) and not options.get("stdout"):
            options["stdout"] = pipes.PipeSafe(sys.stdout)
        try:
            timeout = options.get("lock_timeout")
            if isinstance(timeout, (int, float)) and not timeout >= 0:
                raise UsageError(  # call_command(lock_timeout=-1) skips argparse
                    f"--lock-timeout {timeout}: give 0 or more seconds "
                    "(0: do not wait at all)."
                )
            with interrupts.handled():
                try:
                    return super().execute(*args, **options)  # type: ignore[misc]
                except KeyboardInterrupt as interrupted:
                    raise interrupts.as_error(interrupted) from interrupted
        except BaseException as exc:
            self.report_failure(exc, options)
            if isinstance(exc, MigrationGuardError) and not isinstance(
                exc, CommandError
            ):
                raise as_command_error(exc) from exc
            raise

    def report_failure(self, exc: BaseException, options: dict[str, Any]) -> None:
        """What a failed command prints: its ledger line, or its JSON document."""
        if options.get("format") == "json":
            document = self.failure_document(exc)
            if document is not None and not self._json_written:
                self.write_json(document)
            return
        run = getattr(exc, "run", None)  # the ledger row of a failed run
        if is_command_error(exc) and getattr(run, "pk", None):
            self.stdout.write("")  # ends migrate's "Applying X..." line
            self.say_ledger(run)

    def failure_document(self, exc: BaseException) -> dict[str, Any] | None:
        """The JSON document of a failure (``--format json``); None: no document."""
        if not is_command_error(exc):
            return None  # a crash: its traceback says it all
        return {
            "outcome": "error",
            "exit_code": exit_status(exc),
            "error": type(exc).__name__,
            "message": str(exc),
        }


def is_command_error(exc: BaseException) -> bool:
    """Whether ``exc`` ends a command with an exit status and a message."""
    return isinstance(exc, (MigrationGuardError, CommandError))


def exit_status(exc: BaseException) -> int:
    """The exit status a command ends with when ``exc`` stops it."""
    return int(getattr(exc, "returncode", 1))


#: each domain error class, and its twin that is a ``CommandError`` too
_COMMAND_ERRORS: dict[type[MigrationGuardError], type[MigrationGuardError]] = {}


def _command_error_class(
    cls: type[MigrationGuardError],
) -> type[MigrationGuardError]:
    if cls not in _COMMAND_ERRORS:
        _COMMAND_ERRORS[cls] = type(
            cls.__name__,
            (cls, CommandError),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
    return _COMMAND_ERRORS[cls]


def as_command_error(exc: MigrationGuardError) -> MigrationGuardError:
    """``exc`` as what a Django command raises: a ``CommandError`` too.

    The same class name, message, exit status and ledger run, and still an
    instance of ``exc``'s class: ``call_command`` callers catch either, and
    Django's ``run_from_argv`` prints ``Name: message`` and exits with it.
    """
    error_class = _command_error_class(type(exc))
    return error_class(*exc.args, returncode=exc.returncode, run=exc.run)


class MigrationGuardCommand(MigrationGuardCommandMixin, BaseCommand):
    pass
