"""The corpus project's databases: migrated once per backend, copied per test.

``tests/corpus`` is a Django project of its own (``manage.py``,
``corpusproject.settings``) made of third-party apps from PyPI
(``requirements.txt``, installed by ``make corpus-deps``). Tests drive it
only through ``manage.py`` subprocesses, so the suite's own settings never
load its apps. Django's ``migrate`` builds one template database per backend
per session; each test gets a copy (PostgreSQL ``CREATE DATABASE ...
TEMPLATE``, MariaDB ``mariadb-dump`` piped to ``mariadb``, SQLite a file copy).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import backends
from tests.conftest import IN_CI

CORPUS = Path(__file__).resolve().parent
MANAGE = CORPUS / "manage.py"
#: a module the corpus needs that the suite's own requirements do not bring
PROBE = "cms"


def corpus_missing() -> str | None:
    """Why the corpus cannot run here (its apps not installed), or None."""
    try:
        __import__(PROBE)
    except ImportError:
        return "the corpus apps are not installed: run `make corpus-deps`"
    return None


@dataclass
class Corpus:
    """A database of the corpus project on ``vendor``'s server."""

    vendor: str
    name: str
    workdir: Path

    @property
    def url(self) -> str:
        return backends.server(self.vendor).url(self.name)

    def manage(
        self, *args: str, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(
            DATABASE_URL=self.url,
            PYTHONWARNINGS="ignore",
            MIGRATION_GUARD_BACKUP_DIR=str(self.workdir / "backups"),
            CORPUS_MEDIA_ROOT=str(self.workdir / "media"),
        )
        return subprocess.run(
            [sys.executable, str(MANAGE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(self.workdir),
        )

    def json(self, *args: str) -> Any:
        """``manage.py corpus ARGS``: its JSON document (fails on a non-zero exit)."""
        proc = self.manage("corpus", *args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return json.loads(proc.stdout)

    def execute(self, *statements: str) -> None:
        """Run SQL on the database directly (damage done by hand)."""
        if self.vendor == "sqlite":
            conn = sqlite3.connect(self.name)
            try:
                for statement in statements:
                    conn.execute(statement)
                conn.commit()
            finally:
                conn.close()
            return
        server = backends.server(self.vendor)
        if self.vendor == "postgresql":
            import psycopg2

            pg = psycopg2.connect(
                host=server.host, port=server.port, user=server.user,
                password=server.password, dbname=self.name,
            )  # fmt: skip
            pg.autocommit = True
            try:
                with pg.cursor() as cursor:
                    for statement in statements:
                        cursor.execute(statement)
            finally:
                pg.close()
            return
        import MySQLdb

        my = MySQLdb.connect(
            host=server.host, port=server.port, user=server.user,
            password=server.password, database=self.name,
        )  # fmt: skip
        try:
            cursor = my.cursor()
            for statement in statements:
                cursor.execute(statement)
        finally:
            my.close()


def _mysql_args(server: backends.Server) -> list[str]:
    args = ["-h", server.host, "-P", str(server.port), "-u", server.user]
    if server.password:
        args.append(f"-p{server.password}")
    return args


def copy_database(vendor: str, source: str, target: str) -> None:
    """A copy of the database ``source`` named ``target``."""
    server = backends.server(vendor)
    if vendor == "sqlite":
        shutil.copyfile(source, target)
    elif vendor == "postgresql":
        server.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    else:
        server.create(target)
        dump = subprocess.Popen(
            ["mariadb-dump", *_mysql_args(server), "--routines", "--single-transaction",
             source],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        load = subprocess.run(
            ["mariadb", *_mysql_args(server), target], stdin=dump.stdout, check=False
        )
        assert dump.stdout is not None
        dump.stdout.close()
        assert dump.wait() == 0 and load.returncode == 0, f"copy {source} -> {target}"


class Templates:
    """One database per backend migrated from empty by Django, made on demand."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.made: dict[str, Corpus] = {}
        self.failed: dict[str, str] = {}
        self.copies: list[Corpus] = []

    def template(self, vendor: str) -> Corpus:
        if vendor in self.failed:
            pytest.fail(self.failed[vendor])
        if vendor not in self.made:
            name = backends.unique_name(f"smcorpus_{vendor[:2]}")
            if vendor == "sqlite":
                name = str(self.workdir / f"{name}.sqlite3")
            backends.server(vendor).create(name)
            corpus = self.made[vendor] = Corpus(vendor, name, self.workdir)
            proc = corpus.manage("migrate", "--noinput", "-v", "0")
            if proc.returncode != 0:
                self.failed[vendor] = (
                    f"migrate of the corpus on {vendor} exited {proc.returncode}:\n"
                    + proc.stderr[-4000:]
                )
                pytest.fail(self.failed[vendor])
        return self.made[vendor]

    def copy(self, vendor: str) -> Corpus:
        template = self.template(vendor)
        name = backends.unique_name(f"smcorpus_{vendor[:2]}")
        if vendor == "sqlite":
            name = str(self.workdir / f"{name}.sqlite3")
        copy_database(vendor, template.name, name)
        corpus = Corpus(vendor, name, self.workdir)
        self.copies.append(corpus)
        return corpus

    def drop(self, corpus: Corpus) -> None:
        backends.server(corpus.vendor).drop(corpus.name)

    def close(self) -> None:
        for corpus in [*self.copies, *self.made.values()]:
            self.drop(corpus)


@pytest.fixture(scope="session")
def corpus_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    templates = Templates(tmp_path_factory.mktemp("corpus"))
    try:
        yield templates
    finally:
        templates.close()


def _usable(vendor: str) -> None:
    reason = corpus_missing() or backends.unavailable(vendor)
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true and the corpus cannot run: {reason}")
        pytest.skip(reason)


@pytest.fixture
def corpus_template(vendor: str, corpus_templates: Templates) -> Corpus:
    """The migrated template itself: for tests that only read."""
    _usable(vendor)
    return corpus_templates.template(vendor)


@pytest.fixture
def corpus(vendor: str, corpus_templates: Templates) -> Iterator[Corpus]:
    """A copy of the migrated template, dropped after the test."""
    _usable(vendor)
    copy = corpus_templates.copy(vendor)
    try:
        yield copy
    finally:
        corpus_templates.copies.remove(copy)
        corpus_templates.drop(copy)
