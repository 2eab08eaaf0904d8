"""README's "Deploying" snippets, taken from README.md and run or checked here.

The shell script runs against the testproject and each exit code it handles
is forced by a real failure: a bad option (1), a backup directory that cannot
be created (5), a lock held by another process (3), an applied migration
edited since (4), the ``failing`` scenario (6 on SQLite, and 7 on MariaDB
without a backup).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from migration_guard.exceptions import EXIT_CODES
from tests.conftest import ROOT, TESTPROJECT, Database

SCENARIO = ROOT / "tests" / "scenarios" / "failing"


def deploying_blocks() -> list[str]:
    """The fenced code blocks of README's "Deploying" section, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```\w*\n(.*?)^```$", section, flags=re.S | re.M)


def block(marker: str) -> str:
    """The one block of the section that contains ``marker``."""
    found = [b for b in deploying_blocks() if marker in b]
    assert len(found) == 1, f"{len(found)} README blocks contain {marker!r}"
    return found[0]


class Project:
    """The testproject with the ``failing`` scenario app, deployed by deploy.sh."""

    def __init__(self, database: Database, tmp: Path) -> None:
        self.database = database
        self.tmp = tmp
        self.script = tmp / "deploy.sh"
        self.script.write_text(block("# deploy.sh:"))
        self.migrations = tmp / "deploy_scenario"
        self.migrations.mkdir()
        (self.migrations / "__init__.py").write_text("")
        shutil.copy(SCENARIO / "0001_initial.py", self.migrations)
        (tmp / "deploy_settings.py").write_text(
            "from testproject.settings import *  # noqa: F403\n"
            "from testproject.settings import INSTALLED_APPS\n"
            'INSTALLED_APPS = [*INSTALLED_APPS, "tests.scenarioapp"]\n'
            'MIGRATION_MODULES = {"scenario": "deploy_scenario"}\n'
        )
        self.live = tmp / "went-live"
        self.pages = tmp / "pages"
        pager = tmp / "page.sh"
        pager.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {self.pages}\n')
        pager.chmod(pager.stat().st_mode | stat.S_IXUSR)
        self.env = database.env(
            DJANGO_SETTINGS_MODULE="deploy_settings",
            PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT), str(TESTPROJECT)]),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHON=sys.executable,
            GO_LIVE=f"touch {self.live}",
            PAGE=str(pager),
            LOCK_PAUSE="0",
        )

    def deploy(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(["sh", str(self.script), *args], **env)

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=TESTPROJECT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def add_failing_migration(self) -> None:
        shutil.copy(SCENARIO / "0002_add_columns_then_fail.py", self.migrations)

    def went_live(self) -> bool:
        found = self.live.exists()
        self.live.unlink(missing_ok=True)
        return found


@pytest.fixture
def project(database: Database, tmp_path: Path) -> Project:
    return Project(database, tmp_path)


@contextlib.contextmanager
def lock_held(database: Database) -> Iterator[None]:
    """The SQLite migration lock, taken the way another guardedmigrate run takes it."""
    with open(f"{database.name}.migration-guard-lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


@pytest.mark.backends("sqlite")
def test_shell_script_handles_each_exit_code(
    project: Project, database: Database, tmp_path: Path
) -> None:
    result = project.deploy("--database", "nope")
    assert result.returncode == 1
    assert result.stderr.endswith(
        "deploy: stopped before any migration was applied (exit 1); fix what the "
        "message above says.\n"
    )
    assert "nope" in result.stderr and not project.went_live()

    (tmp_path / "a-file").write_text("")
    result = project.deploy(MIGRATION_GUARD_BACKUP_DIR=str(tmp_path / "a-file" / "b"))
    assert result.returncode == 5, result.stderr
    assert "BackupFailed: The backup of database 'default' failed" in result.stderr
    assert "(exit 5)" in result.stderr and not project.went_live()
    assert database.migration_rows() == []

    with lock_held(database):
        result = project.deploy("--lock-timeout", "0", LOCK_TRIES="2")
    assert result.returncode == 3
    assert result.stderr.count("Could not take the migration lock") == 2
    assert (
        "deploy: another run holds the migration lock; try 2 of 2 in 0s.\n"
        in result.stderr
    )
    assert result.stderr.endswith(
        "deploy: the migration lock is still taken after 2 tries; deploy later.\n"
    )
    assert not project.went_live() and database.migration_rows() == []

    result = project.deploy()
    assert result.returncode == 0, result.stderr
    assert project.went_live()
    assert ("scenario", "0001_initial") in database.migration_rows()

    # Heroku's release command: deploy.sh with nothing to put live
    release = block("release:").splitlines()[0].removeprefix("release: ")
    result = project.run(
        ["sh", "-c", release.replace("deploy.sh", str(project.script))]
    )
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply." in result.stdout and not project.went_live()

    # an applied migration edited since, under a new one: refused (4)
    first = project.migrations / "0001_initial.py"
    original = first.read_text()
    first.write_text(original.replace("max_length=50", "max_length=60"))
    project.add_failing_migration()
    result = project.deploy()
    assert result.returncode == 4, result.stderr
    assert "applied migration was edited" in result.stderr
    assert "(exit 4)" in result.stderr and not project.went_live()

    # a migration that fails; SQLite rolls its DDL back (6)
    first.write_text(original)
    result = project.deploy()
    assert result.returncode == 6, result.stderr
    assert not project.went_live() and not project.pages.exists()
    lines = result.stderr.splitlines()
    assert lines[-1] == (
        "deploy: a migration failed and the database is as it was; the old code "
        "keeps running."
    )
    assert lines[-2].startswith(
        "MigrationFailed: Migration scenario.0002_add_columns_then_fail failed on "
        "database "
        "'default': RuntimeError: boom: scenario migration failed on purpose."
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n".join(lines[-2:]) in readme  # the sample output is this one
    assert ("scenario", "0002_add_columns_then_fail") not in database.migration_rows()


@pytest.mark.backends("mysql")
def test_shell_script_pages_when_a_restore_is_needed(
    project: Project, database: Database
) -> None:
    assert project.deploy().returncode == 0
    assert project.went_live()
    project.add_failing_migration()
    # MariaDB keeps the DDL of a failed migration; without a backup: exit 7
    result = project.deploy("--no-backup")
    assert result.returncode == 7, result.stderr
    assert "RestoreFailed" in result.stderr
    assert result.stderr.endswith(
        "deploy: the database needs a manual restore from the backup named above; "
        "do not retry.\n"
    )
    assert project.pages.read_text() == (
        "deploy: a migration failed and the database was not restored; restore the "
        "backup named in the deploy log.\n"
    )
    assert not project.went_live()


def unit_settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in unit.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            settings.setdefault(key, []).append(value)
    return settings


def test_systemd_units(tmp_path: Path) -> None:
    migrate = block("# /etc/systemd/system/myapp-migrate.service")
    app = block("# /etc/systemd/system/myapp.service")
    settings = unit_settings(migrate)
    assert settings["Type"] == ["oneshot"]
    assert settings["ExecStart"][0].endswith("manage.py guardedmigrate --noinput")
    # every exit code but 0 and 3 is final
    final = {str(code) for code in EXIT_CODES if code != 3}
    assert set(settings["RestartPreventExitStatus"][0].split()) == final
    assert unit_settings(app)["Requires"] == ["myapp-migrate.service"]

    # ExecStopPost raises the alarm on 7 only
    command = settings["ExecStopPost"][0]
    shell = re.fullmatch(r"/bin/sh -c '(.*)'", command)
    assert shell is not None
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "logger").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "log"}\n')
    (stub / "logger").chmod(0o755)
    for status in ("6", "7", "0"):
        env = {"PATH": f"{stub}:/usr/bin:/bin", "EXIT_STATUS": status}
        subprocess.run(["sh", "-c", shell.group(1)], env=env, check=True)
    assert (tmp_path / "log").read_text() == (
        "-p user.crit -t myapp-migrate manual restore needed: "
        "journalctl -u myapp-migrate\n"
    )

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units were not verified")
    units = tmp_path / "units"
    units.mkdir()
    for name, text in (("myapp-migrate.service", migrate), ("myapp.service", app)):
        # verify wants the executables to exist
        text = text.replace("/srv/myapp/venv/bin/python", sys.executable)
        text = text.replace("/srv/myapp/venv/bin/gunicorn", shutil.which("true") or "")
        (units / name).write_text(text)
    result = subprocess.run(
        [
            analyze,
            "verify",
            str(units / "myapp-migrate.service"),
            str(units / "myapp.service"),
        ],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_kubernetes_manifests() -> None:
    yaml = pytest.importorskip("yaml")
    job = yaml.safe_load(block("# migrate-job.yaml"))
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # what podFailurePolicy requires
    (container,) = pod["containers"]
    assert container["command"] == [
        "python",
        "manage.py",
        "guardedmigrate",
        "--noinput",
    ]
    fail, ignore = job["spec"]["podFailurePolicy"]["rules"]
    assert fail["action"] == "FailJob"
    assert fail["onExitCodes"] == {
        "containerName": container["name"],
        "operator": "NotIn",
        "values": [3],
    }
    assert ignore == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget"}],
    }

    deployment = yaml.safe_load(block("# deployment.yaml"))
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    (init,) = spec["template"]["spec"]["initContainers"]
    assert init["command"][:4] == ["python", "manage.py", "guardedmigrate", "--noinput"]


def test_procfile_and_gitignore(tmp_path: Path) -> None:
    procfile = block("release:").splitlines()
    assert [line.split(":", 1)[0] for line in procfile] == ["release", "web"]
    assert "deploy.sh" in procfile[0]

    # the ignore patterns cover a real backup directory and SQLite lock file
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text(block("/backups/"))
    (repo / "backups").mkdir()
    (repo / "backups" / "default-20260101T000000000000.sqlite3").write_text("")
    (repo / "db.sqlite3.migration-guard-lock").write_text("")
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "?? .gitignore\n"
