"""``manage.py makedatamigration``: a data migration from the template library."""

from __future__ import annotations

import os
import shlex
import sys
import textwrap
from typing import Any

from django.core.management.base import CommandParser
from django.core.management.utils import run_formatters

from migration_guard.compat.management import called_from_command_line
from migration_guard.datamigrations.base import DEFAULT_BATCH_SIZE, OPTIONS, Options
from migration_guard.datamigrations.expressions import SYNTAX_HELP
from migration_guard.datamigrations.templates import describe_templates
from migration_guard.datamigrations.writer import describe, generate
from migration_guard.exceptions import UsageError
from migration_guard.management.base import MigrationGuardCommand

EXPRESSIONS_TEXT = (
    "Python syntax over the model's field names in the migration state; "
    "parsed, never run. " + SYNTAX_HELP + " Examples: --expression "
    '"bool(profile_picture_url)", --expression "upper(code)", --filter '
    "\"status == 'paid' and placed_at < '2024-01-01'\"."
)
EXPRESSIONS_HELP = (
    "Expressions (--expression) and conditions (--filter): " + EXPRESSIONS_TEXT
)


class Command(MigrationGuardCommand):
    help = (
        "Write a RunPython data migration from a template (--list-templates), "
        "with batched forwards and backwards functions, after the app's latest "
        "migration."
    )

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        # what --expression and --filter say is "below": after the options
        kwargs.setdefault("epilog", EXPRESSIONS_HELP)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_label", nargs="?", help="The app to add it to.")
        parser.add_argument(
            "name",
            nargs="?",
            help="The migration's name after its number (default: from the template).",
        )
        parser.add_argument(
            "--template", metavar="NAME", help="The template (--list-templates)."
        )
        parser.add_argument(
            "--list-templates",
            action="store_true",
            help="Describe every template and its options; write nothing.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the migration file(s) instead of writing them.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Rows per batch (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--non-atomic",
            action="store_true",
            help="atomic = False, with one transaction per batch, so that a big "
            "table is not locked for the whole run.",
        )
        parser.add_argument(
            "--elidable",
            action="store_true",
            help="RunPython(..., elidable=True): squashmigrations may drop it.",
        )
        for option in OPTIONS.values():
            parser.add_argument(
                option.flag, dest=option.dest, metavar=option.metavar, help=option.help
            )
        self.add_format_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = options["format"] == "json"
        if options["list_templates"]:
            self.list_templates(as_json)
            return
        if not options["app_label"]:
            raise UsageError(
                "Give the app_label (and a name) of the data migration, e.g. "
                "'makedatamigration accounts set_flags --template backfill ...'; "
                "--list-templates describes the templates."
            )
        generated = generate(
            options["app_label"],
            options["name"],
            options["template"],
            Options.from_dict(options),
            self.command_line(),
        )
        if not options["dry_run"]:
            generated.write()
            run_formatters([f.path for f in generated.files], stderr=self.stderr)
        if as_json:
            document = describe(generated)
            document["written"] = not options["dry_run"]
            if options["dry_run"]:
                for entry, migration_file in zip(
                    document["migrations"], generated.files, strict=True
                ):
                    entry["text"] = migration_file.text
            self.write_json(document)
            return
        if options["verbosity"] >= 1:
            self.say(
                "MIGRATE_HEADING", f"Migrations for '{generated.files[0].app_label}':"
            )
            for migration_file in generated.files:
                self.say("MIGRATE_LABEL", f"  {relative(migration_file.path)}")
                for line in migration_file.description:
                    self.stdout.write(f"    {line}")
        if options["dry_run"]:
            for migration_file in generated.files:
                self.say(
                    "MIGRATE_HEADING",
                    f"Full migrations file '{os.path.basename(migration_file.path)}':",
                )
                self.stdout.write(migration_file.text)

    def command_line(self) -> str:
        """How this migration was asked for, for the docstring of the file."""
        if not called_from_command_line(self):
            return "makedatamigration"
        words, skip = [], False
        for word in sys.argv[1:]:
            if skip:
                skip = False
            elif word == "--format":
                skip = True
            elif word != "--dry-run" and not word.startswith("--format="):
                words.append(word)
        return "manage.py " + shlex.join(words)

    def list_templates(self, as_json: bool) -> None:
        templates = describe_templates()
        if as_json:
            self.write_json(
                {
                    "templates": templates,
                    "common_options": {
                        "--batch-size N": "rows per batch (default "
                        f"{DEFAULT_BATCH_SIZE})",
                        "--non-atomic": "atomic = False, one transaction per batch",
                        "--elidable": "RunPython(..., elidable=True)",
                        "--dry-run": "print the file(s) instead of writing them",
                    },
                    "expressions": SYNTAX_HELP,
                }
            )
            return
        for template in templates:
            self.say("MIGRATE_HEADING", template["name"])
            self.stdout.write(f"  {template['summary']}.")
            self.stdout.write(f"  Backwards: {template['backwards']}.")
            self.stdout.write(f"  Batching: {template['batching']}.")
            self.stdout.write(f"  Options: {template['usage']}")
            self.stdout.write(f"  Example: {template['example']}")
            self.stdout.write("")
        self.say("MIGRATE_HEADING", "Options of every template")
        self.stdout.write(
            f"  --batch-size N   rows per batch (default {DEFAULT_BATCH_SIZE})\n"
            "  --non-atomic     atomic = False with one transaction per batch, so a\n"
            "                   big table is not locked for the whole run\n"
            "  --elidable       RunPython(..., elidable=True)\n"
            "  --dry-run        print the file(s) instead of writing them\n"
        )
        self.say(
            "MIGRATE_HEADING", "Expressions (--expression) and conditions (--filter)"
        )
        self.stdout.write(
            textwrap.fill(
                EXPRESSIONS_TEXT,
                78,
                initial_indent="  ",
                subsequent_indent="  ",
                break_on_hyphens=False,
            )
        )


def relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
