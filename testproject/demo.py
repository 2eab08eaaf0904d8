"""``make demo``: a tour of migration_guard on the bundled testproject (SQLite).

Each step says what it shows, prints the command as you would type it, its
output, and its exit code where the exit code is the point. The database and
the backups are made afresh: ``testproject/db.sqlite3`` and
``testproject/backups/`` (or the paths given with ``--database-file`` and
``--backup-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH = 78


class Tour:
    def __init__(self, database: Path, backups: Path) -> None:
        self.database = database
        self.backups = backups
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "MIGRATION_GUARD_BACKUP_DIR": str(backups),
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
        }
        self.number = 0

    def reset(self) -> None:
        for path in (self.database, Path(f"{self.database}.migration-guard-lock")):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.backups, ignore_errors=True)

    def step(self, title: str, explanation: str) -> None:
        self.number += 1
        print()
        print(f"== {self.number}. {title}")
        for line in textwrap.wrap(explanation, WIDTH - 3):
            print(f"   {line}")

    def note(self, text: str) -> None:
        for line in textwrap.wrap(text, WIDTH - 3):
            print(f"   {line}")

    def manage(self, *args: str, show_exit: bool = False, expect: int = 0) -> str:
        """Run ``manage.py ARGS``; print the command, its output, its exit code."""
        print(f"$ python manage.py {shlex.join(args)}")
        sys.stdout.flush()
        result = subprocess.run(
            [sys.executable, str(HERE / "manage.py"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stdout.write(result.stdout)
        sys.stdout.write(result.stderr)
        if show_exit:
            print(f"(exit code {result.returncode})")
        if result.returncode != expect:
            raise SystemExit(
                f"demo: 'manage.py {shlex.join(args)}' exited "
                f"{result.returncode}, not {expect}"
            )
        return result.stdout

    def run(self) -> None:
        self.reset()
        self.step(
            "What would be applied",
            "guardedmigrate --plan lists every migration and operation it would run; "
            "it takes no lock and writes nothing (not even the ledger).",
        )
        self.manage("guardedmigrate", "--plan")

        self.step(
            "Apply, the safe way",
            "One run per database (a lock), a verified backup first, then Django's "
            "own migrate code; the run is recorded in the ledger.",
        )
        self.manage("guardedmigrate")

        self.step(
            "Apply again",
            "Nothing to do: no backup is taken, and the ledger records the no-op.",
        )
        self.manage("guardedmigrate")

        self.step(
            "The CI/deploy gate: --check",
            "Exit 0 when nothing is pending, 2 when something is; no lock, no write.",
        )
        self.manage("guardedmigrate", "--check", show_exit=True)

        self.step(
            "A backward run",
            "Going back to catalog 0001 shows the revert preview (why each "
            "migration is undone, what undoing it does, the data at risk) and "
            "backs up first; --noinput answers the confirmation.",
        )
        self.manage("guardedmigrate", "catalog", "0001", "--noinput")

        self.step(
            "--check again",
            "Now three migrations are pending, so --check exits 2 and names them.",
        )
        self.manage("guardedmigrate", "--check", show_exit=True, expect=2)
        self.manage("guardedmigrate")

        self.step(
            "Undo the last run",
            "rollbackplan --last previews undoing the latest run (executes "
            "nothing); rollback --last does it, with the same lock, backup and "
            "ledger; guardedmigrate applies the migrations again.",
        )
        self.manage("rollbackplan", "--last")
        self.manage("rollback", "--last", "--noinput")
        self.manage("guardedmigrate", "--noinput")

        self.step(
            "The live schema against the recorded history",
            "reconcile checks each applied migration's effects in the live "
            "schema; --check exits 2 on drift.",
        )
        self.manage("reconcile", "--check", show_exit=True)
        self.note(
            "'not verifiable' marks migrations that run code (RunPython, RunSQL): "
            "they change data, not the schema, so the schema cannot show whether "
            "they ran. They are no drift; reconcile --fake never records them "
            "unless told to with --force-fake --reason."
        )

        self.step(
            "The CI gate over the migration files",
            "checkmigrations: conflicts, data migrations without a reverse, "
            "irreversible operations, applied migrations edited since; exit 2 "
            "when a gate fails.",
        )
        self.manage("checkmigrations", show_exit=True)

        self.step(
            "The ledger",
            "Every run: who, where, the plan, the outcome and the duration.",
        )
        self.manage("migrationhistory")

        self.step(
            "The backups",
            "The catalogue of verified backups, and a re-verification of the "
            "newest (size, sha256 and a complete file).",
        )
        self.manage("migrationbackups", "list")
        listed = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "manage.py"),
                    "migrationbackups",
                    "list",
                    "--format",
                    "json",
                ],
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        self.manage("migrationbackups", "verify", listed["backups"][0]["id"])
        print()
        print("== Done. The demo database is", self.database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-file", type=Path, default=HERE / "db.sqlite3")
    parser.add_argument("--backup-dir", type=Path, default=HERE / "backups")
    options = parser.parse_args()
    Tour(options.database_file.resolve(), options.backup_dir.resolve()).run()


if __name__ == "__main__":
    main()
