"""Point-in-time markers: where the database's own log was before each run and
backup, recorded in the ledger and the manifest, shown by ``migrationhistory``
and ``rollbackplan`` (issue 16 item 2).

PostgreSQL: the WAL position. MariaDB: the binary log file, position and
GTID; the test servers run without binary logging, so a second MariaDB
server with ``--log-bin`` is started in a temporary data directory for the
binlog path. SQLite: nothing to record, and that is what is recorded.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections

from migration_guard.backup import catalog
from migration_guard.backup.logpos import (
    SQLITE_NOTE,
    describe,
    log_positions,
    read_position,
    recovery_points,
)
from migration_guard.backup.storage import Manifest
from migration_guard.models import MigrationRun
from tests import backends
from tests.conftest import IN_CI, Database

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


def last_run(alias: str = "default") -> MigrationRun:
    run_row = MigrationRun.objects.using(alias).order_by("id").last()
    assert run_row is not None
    return run_row


def test_runs_and_backups_record_the_log_position(
    database: Database, vendor: str
) -> None:
    run("guardedmigrate", "catalog", "0002", verbosity=0)
    first = last_run()
    position = first.log_position
    manifest = catalog.find(first.backup_id)
    if vendor == "postgresql":
        assert set(position) == {"log", "lsn", "wal_file", "at"}
        assert position["log"] == "wal"
        assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", position["lsn"])
        assert re.fullmatch(r"[0-9A-F]{24}", position["wal_file"])
        assert re.fullmatch(ISO, position["at"])
        # the run started before its backup: the log only moves forwards
        (ordered,) = database.query(
            "SELECT %s::pg_lsn <= %s::pg_lsn AND %s::pg_lsn <= pg_current_wal_lsn()",
            [position["lsn"], manifest.log_position["lsn"], position["lsn"]],
        )
        assert ordered == (True,)
        expected = (
            f"WAL LSN {position['lsn']}, WAL file {position['wal_file']} at "
            f"{position['at']}"
        )
    elif vendor == "mysql":  # the test server runs without --log-bin
        assert set(position) == {"log", "state", "at"}
        assert (position["log"], position["state"]) == ("binlog", "off")
        assert re.fullmatch(ISO, position["at"])
        assert manifest.log_position["state"] == "off"
        expected = (
            f"binary logging off at {position['at']}: no binary log to recover from"
        )
    else:
        assert position == {"log": "none", "note": SQLITE_NOTE}
        assert manifest.log_position == position
        expected = SQLITE_NOTE
    assert describe(position) == expected

    detail = run("migrationhistory", run=first.pk)
    assert f"  Log before the run: {expected}\n" in detail
    document = json.loads(run("migrationhistory", run=first.pk, format="json"))
    assert document["log_position"] == position

    plan = run("rollbackplan", last=True)  # unapplying: no backup needed
    assert plan.endswith(
        f"Point-in-time recovery to before run {first.pk}: {expected}\n"
    )
    positions = json.loads(run("rollbackplan", last=True, format="json"))[
        "log_positions"
    ]
    assert positions == {"run": position, "backup": None}


def test_runs_of_older_versions_show_not_recorded(database: Database) -> None:
    run("guardedmigrate", "catalog", "0001", verbosity=0, no_backup=True)
    MigrationRun.objects.using("default").update(log_position={})
    assert "  Log before the run: not recorded\n" in run(
        "migrationhistory", run=last_run().pk
    )


def test_an_unreadable_position_is_recorded_not_raised(database: Database) -> None:
    """A server that refuses the query (a privilege, a standby) never fails a run."""
    if database.vendor == "sqlite":
        pytest.skip("SQLite reads nothing")
    connection = database.connection
    original = connection.vendor
    # a failing statement through the real connection: a reader of the
    # other vendor's SQL
    connection.vendor = "mysql" if original == "postgresql" else "postgresql"
    try:
        position = read_position("default")
    finally:
        connection.vendor = original
    assert position["log"] == "unknown"
    assert position["note"].startswith("could not read: ")
    assert describe(position) == position["note"]
    # the connection is usable afterwards (the error was inside a savepoint)
    assert database.query("SELECT 1") == [(1,)]


# -- a MariaDB server with binary logging ------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and the binlog MariaDB server is unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def binlog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A throwaway MariaDB server with ``--log-bin``; its port."""
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    if not install or not server:
        _unavailable("mariadb-install-db/mariadbd are not installed")
    root = tmp_path_factory.mktemp("binlog")
    datadir, port = root / "data", _free_port()
    user = ["--user=root"] if os.geteuid() == 0 else []
    done = subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}", *user,
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        _unavailable(f"mariadb-install-db failed: {done.stderr.strip()[-500:]}")
    log = open(root / "server.log", "wb")  # noqa: SIM115 - the server's lifetime
    child = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={datadir}", *user, f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={root / 'sock'}",
         f"--log-bin={datadir / 'binlog'}", "--server-id=1", "--skip-name-resolve",
         "--innodb-buffer-pool-size=32M"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    _unavailable(
                        "mariadbd --log-bin did not start: "
                        + (root / "server.log").read_text(errors="replace")[-500:]
                    )
                time.sleep(0.2)
        yield port
    finally:
        child.terminate()
        child.wait(timeout=60)
        log.close()


@pytest.fixture
def binlog_database(binlog_server: int, django_db_blocker: Any) -> Iterator[Database]:
    """A database on the binlog server as the ``default`` alias."""
    if backends.unavailable("mysql"):
        _unavailable(f"mysqlclient: {backends.unavailable('mysql')}")
    with django_db_blocker.unblock():
        yield from _on_default(binlog_server)


def _on_default(port: int) -> Iterator[Database]:
    server = backends.Server("mysql", host="127.0.0.1", port=port, user="root")
    name = backends.unique_name()
    server.create(name)
    previous = dict(connections.settings["default"])
    configured = connections.configure_settings({"default": server.settings(name)})
    connections.settings["default"].clear()
    connections.settings["default"].update(configured["default"])
    connections["default"].close()
    del connections["default"]
    try:
        yield Database("mysql", name)
    finally:
        connections["default"].close()
        connections.settings["default"].clear()
        connections.settings["default"].update(previous)
        del connections["default"]
        server.drop(name)


@pytest.mark.backends("mysql")  # not where the suite runs without MariaDB (tox)
def test_binlog_file_position_and_gtid_are_recorded(
    vendor: str, binlog_database: Database
) -> None:
    before = read_position("default")
    assert set(before) == {"log", "state", "file", "position", "gtid", "at"}
    assert (before["log"], before["state"]) == ("binlog", "on")
    assert re.fullmatch(r"binlog\.\d{6}", before["file"])
    run("guardedmigrate", "catalog", "0002", verbosity=0)
    first = last_run()
    position = first.log_position
    assert position["file"] == before["file"]
    # the run's own writes (the ledger row, the migrations) come after it
    assert int(before["position"]) <= int(position["position"])
    after = read_position("default")
    assert int(position["position"]) < int(after["position"])
    assert re.fullmatch(r"0-1-\d+", after["gtid"])
    expected = (
        f"binlog {position['file']} position {position['position']}"
        + (f", GTID {position['gtid']}" if position["gtid"] else "")
        + f" at {position['at']}"
    )
    assert describe(position) == expected
    assert f"  Log before the run: {expected}\n" in run(
        "migrationhistory", run=first.pk
    )
    manifest = catalog.find(first.backup_id)
    assert manifest.log_position["state"] == "on"
    assert int(position["position"]) <= int(manifest.log_position["position"])


def test_describe_and_recovery_points() -> None:
    wal = {"log": "wal", "lsn": "0/3000060", "at": "2026-12-03T08:00:00.000001Z",
           "note": "a standby: the position replayed"}  # fmt: skip
    assert describe(wal) == (
        "WAL LSN 0/3000060 at 2026-12-03T08:00:00.000001Z (a standby: the "
        "position replayed)"
    )
    binlog = {
        "log": "binlog",
        "state": "on",
        "file": "binlog.000002",
        "position": "1234",
        "gtid": "",
        "at": "2026-12-03T08:00:00.000002Z",
    }
    assert describe(binlog) == (
        "binlog binlog.000002 position 1234 at 2026-12-03T08:00:00.000002Z"
    )
    assert describe(None) == describe({}) == "not recorded"
    manifest = Manifest(
        id="default-1", alias="default", vendor="mysql", format="mysql-sql",
        filename="default-1.sql", database="shop", created_at="2026-12-03T08:00:00",
        log_position=binlog,
    )  # fmt: skip
    assert recovery_points(None, manifest) == [
        "Point-in-time recovery to backup default-1: binlog binlog.000002 position "
        "1234 at 2026-12-03T08:00:00.000002Z"
    ]
    assert log_positions(None, manifest) == {"run": None, "backup": binlog}
