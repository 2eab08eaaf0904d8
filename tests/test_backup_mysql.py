"""The MySQL/MariaDB backup backend against a real server and the real clients.

Round trips compare a full logical dump (schema, rows, triggers, routines,
events) taken with ``mariadb-dump`` before the backup and after the restore.
"""

from __future__ import annotations

import copy
import datetime
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from django.db.backends.base.base import BaseDatabaseWrapper

from migration_guard.backup import mysql
from migration_guard.backup.base import BackupError, backend_for
from migration_guard.backup.mysql import MySQLBackend, option_value
from tests import backends
from tests.conftest import Database

pytestmark = pytest.mark.backends("mysql")

ROWS: list[tuple[Any, ...]] = [
    (
        1,
        10,
        "héllo wörld ✓ 🎉 𝄞 — ünïcødé",
        b"\x00\x01\xff\x00binary\x00\r\n",
        '{"a": [1, 2, {"b": null}], "emoji": "😀"}',
        Decimal("12345678901234.123456"),
        datetime.date(2024, 2, 29),
        datetime.datetime(2024, 2, 29, 23, 59, 59, 123456),
    ),
    (
        2,
        None,
        'it\'s "quoted" \\ back\nslash\ttab; -- not a comment */ 🙂',
        bytes(range(256)),
        None,
        Decimal("-0.000001"),
        None,
        None,
    ),
    (3, 20, "", b"", "[]", Decimal("0"), datetime.date(1, 1, 1), None),
    (4, None, None, None, None, None, None, None),
]
SELECT_ROWS = (
    "SELECT id, parent_id, txt, data, doc, amount, day, at FROM sm_kinds ORDER BY id"
)
#: a password every naive option file or shell quoting would break
HOSTILE_PASSWORD = " p@ss w\"rd#;'\\ =é\t`$(x)\\"


# -- helpers -------------------------------------------------------------------


def root_argv(tool: str) -> tuple[list[str], dict[str, str]]:
    """``tool`` connected as the test server's administrator."""
    server = backends.server("mysql")
    argv = [tool, f"--host={server.host}", f"--port={server.port}"]
    argv.append(f"--user={server.user}")
    env = dict(os.environ, MYSQL_PWD=server.password)
    return argv, env


def logical_dump(name: str) -> str:
    """Everything the database holds, in a stable, comparable text form."""
    argv, env = root_argv("mariadb-dump")
    argv += [
        "--skip-dump-date",
        "--skip-comments",
        "--skip-extended-insert",
        "--order-by-primary",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--single-transaction",
        name,
    ]
    done = subprocess.run(argv, env=env, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def names(db: Database, sql: str) -> list[str]:
    return sorted(str(row[0]) for row in db.query(sql, [db.name]))


def tables(db: Database) -> list[str]:
    return names(
        db,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
    )


def routines(db: Database) -> list[str]:
    return names(
        db,
        "SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %s",
    )


def events(db: Database) -> list[str]:
    return names(
        db,
        "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
    )


def populate(db: Database, code: bool = True) -> None:
    """Tables by raw SQL with many types and a foreign key; with ``code`` a
    view, a trigger, a function, a procedure and an event, whose definer is the
    creating user (only a user with SUPER or SET USER can restore those)."""
    statements = [
        "CREATE TABLE sm_parent (id INT PRIMARY KEY, label VARCHAR(50) NOT NULL)",
        """CREATE TABLE sm_kinds (
            id INT AUTO_INCREMENT PRIMARY KEY,
            parent_id INT NULL,
            txt TEXT NULL,
            shout TEXT NULL,
            data BLOB NULL,
            doc JSON NULL,
            amount DECIMAL(20, 6) NULL,
            day DATE NULL,
            at DATETIME(6) NULL,
            obsolete INT NULL DEFAULT 7,
            CONSTRAINT sm_kinds_parent FOREIGN KEY (parent_id)
                REFERENCES sm_parent (id)
        ) CHARACTER SET utf8mb4""",
    ]
    code_statements = [
        "CREATE VIEW sm_kinds_view AS SELECT id, txt FROM sm_kinds",
        "CREATE TRIGGER sm_kinds_shout BEFORE INSERT ON sm_kinds FOR EACH ROW "
        "SET NEW.shout = UPPER(NEW.txt)",
        "CREATE FUNCTION sm_double(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
        """CREATE PROCEDURE sm_count(OUT total INT)
           BEGIN
             SELECT COUNT(*) INTO total FROM sm_kinds;
           END""",
        "CREATE EVENT sm_event ON SCHEDULE EVERY 1 DAY "
        "STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM sm_kinds WHERE id < 0",
    ]
    for statement in statements + (code_statements if code else []):
        db.query(statement)
    db.query("INSERT INTO sm_parent VALUES (10, 'ten'), (20, 'twenty')")
    for row in ROWS:
        db.query(
            "INSERT INTO sm_kinds (id, parent_id, txt, data, doc, amount, day, at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            list(row),
        )


def vandalize(db: Database, code: bool = True) -> None:
    """What a failed migration and later writes may leave behind."""
    statements = [
        "INSERT INTO sm_kinds (txt) VALUES ('added after the backup')",
        "UPDATE sm_kinds SET txt = 'changed', data = NULL WHERE id = 1",
        "DELETE FROM sm_kinds WHERE id = 2",
        "UPDATE sm_kinds SET parent_id = NULL, amount = amount + 1 WHERE id = 3",
        "DELETE FROM sm_parent WHERE id = 20",
        "ALTER TABLE sm_kinds DROP COLUMN obsolete",
        "ALTER TABLE sm_kinds ADD COLUMN added INT NOT NULL DEFAULT 1",
        "CREATE TABLE sm_new (id INT PRIMARY KEY, kind_id INT, "
        "FOREIGN KEY (kind_id) REFERENCES sm_kinds (id))",
        "INSERT INTO sm_new VALUES (1, 1)",
    ]
    code_statements = [
        "CREATE VIEW sm_new_view AS SELECT id FROM sm_new",
        "DROP TRIGGER sm_kinds_shout",
        "DROP FUNCTION sm_double",
        "CREATE FUNCTION sm_extra() RETURNS INT DETERMINISTIC RETURN 1",
        "CREATE EVENT sm_event2 ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1",
    ]
    for statement in statements + (code_statements if code else []):
        db.query(statement)


@dataclass
class Child:
    argv: list[str]
    env: dict[str, str]
    option_file: Path | None = None
    option_mode: int | None = None
    option_text: str = ""


@dataclass
class Spy:
    """Every child process started through ``subprocess.Popen``."""

    children: list[Child] = field(default_factory=list)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    recorded = Spy()
    original = subprocess.Popen

    class SpyPopen(original):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            argv = [str(arg) for arg in args]
            child = Child(argv, dict(kwargs.get("env") or os.environ))
            for arg in argv[1:2]:
                if arg.startswith("--defaults-file="):
                    child.option_file = Path(arg.split("=", 1)[1])
            super().__init__(args, *rest, **kwargs)
            if child.option_file is not None:  # the child runs now
                child.option_mode = stat.S_IMODE(child.option_file.stat().st_mode)
                child.option_text = child.option_file.read_text("utf-8")
            recorded.children.append(child)

    monkeypatch.setattr(subprocess, "Popen", SpyPopen)
    return recorded


@pytest.fixture
def populated(database: Database) -> Database:
    populate(database)
    return database


@pytest.fixture
def backend(database: Database) -> MySQLBackend:
    found = backend_for(database.connection)
    assert isinstance(found, MySQLBackend)
    return found


@pytest.fixture
def backup(populated: Database, backend: MySQLBackend, tmp_path: Path) -> Path:
    path = tmp_path / f"backup{backend.extension}"
    backend.dump(path)
    return path


def fake_backend(**settings: Any) -> MySQLBackend:
    """A backend over settings only, for what needs no server."""
    defaults: dict[str, Any] = {
        "NAME": "db",
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {},
    }
    connection = SimpleNamespace(vendor="mysql", settings_dict={**defaults, **settings})
    return MySQLBackend(cast(BaseDatabaseWrapper, connection))


@pytest.fixture
def user_factory(database: Database) -> Iterator[Any]:
    """Create server users with a password, granted all on the test database."""
    created: list[str] = []

    def create(name: str, password: str) -> str:
        user = f"{name}_{os.getpid()}"
        for host in ("%", "localhost"):
            database.query("CREATE USER %s@%s IDENTIFIED BY %s", [user, host, password])
            database.query(f"GRANT ALL ON `{database.name}`.* TO %s@%s", [user, host])
        created.append(user)
        return user

    yield create
    for user in created:
        for host in ("%", "localhost"):
            backends.server("mysql").execute(f"DROP USER IF EXISTS '{user}'@'{host}'")


def connection_as(database: Database, **settings: Any) -> BaseDatabaseWrapper:
    """A separate Django connection to ``database`` with other settings."""
    from django.db.backends.mysql.base import DatabaseWrapper

    settings_dict = copy.deepcopy(database.connection.settings_dict)
    settings_dict.update(settings)
    return cast(BaseDatabaseWrapper, DatabaseWrapper(settings_dict, alias="sm_other"))


# -- round trip ----------------------------------------------------------------


def test_round_trip_restores_exactly_what_was_backed_up(
    populated: Database, backend: MySQLBackend, tmp_path: Path
) -> None:
    db = populated
    before = logical_dump(db.name)
    assert "CREATE DEFINER" in before and "sm_kinds_shout" in before
    tables_before, routines_before = tables(db), routines(db)
    assert tables_before == ["sm_kinds", "sm_kinds_view", "sm_parent"]
    assert routines_before == ["sm_count", "sm_double"]
    path = tmp_path / "backup.sql"
    dumped: list[int] = []

    backend.dump(path, dumped.append)

    assert dumped[-1] == path.stat().st_size > 0
    backend.verify(path)  # raises unless complete
    head = path.read_bytes()[:300].decode()
    assert f"Database: {db.name}" in head
    vandalize(db)
    assert logical_dump(db.name) != before
    assert "sm_new" in tables(db) and "sm_extra" in routines(db)
    restored: list[int] = []

    backend.restore(path, restored.append)

    assert restored[-1] == path.stat().st_size
    assert logical_dump(db.name) == before
    assert tables(db) == tables_before
    assert routines(db) == routines_before
    assert events(db) == ["sm_event"]
    assert db.query(SELECT_ROWS) == ROWS
    assert db.query("SELECT id, label FROM sm_parent ORDER BY id") == [
        (10, "ten"),
        (20, "twenty"),
    ]
    # the code came back and works: trigger, function, procedure, view
    db.query("INSERT INTO sm_kinds (id, txt) VALUES (5, 'shout é')")
    assert db.query("SELECT shout FROM sm_kinds WHERE id = 5") == [("SHOUT É",)]
    assert db.query("SELECT sm_double(21)") == [(42,)]
    db.query("CALL sm_count(@total)")
    assert db.query("SELECT @total") == [(5,)]
    assert db.query("SELECT COUNT(*) FROM sm_kinds_view") == [(5,)]


def test_restore_into_an_emptied_database_and_over_itself(
    populated: Database, backend: MySQLBackend, backup: Path
) -> None:
    before = logical_dump(populated.name)
    backend.restore(backup)
    assert logical_dump(populated.name) == before
    populated.query("SET FOREIGN_KEY_CHECKS = 0")
    for table in ("sm_kinds", "sm_parent"):
        populated.query(f"DROP TABLE {table}")
    populated.query("DROP VIEW sm_kinds_view")
    backend.restore(backup)
    assert logical_dump(populated.name) == before


# -- verify --------------------------------------------------------------------


def test_dump_ends_with_the_completion_line_and_starts_with_the_header(
    backup: Path,
) -> None:
    lines = backup.read_bytes().splitlines()
    assert any(line.startswith(b"-- MariaDB dump") for line in lines[:2])
    assert lines[-1].startswith(b"-- Dump completed on ")


@pytest.mark.parametrize(
    ("cut", "missing"),
    [
        ("before the completion line", "does not end with the '-- Dump completed'"),
        ("mid-statement", "does not end with the '-- Dump completed'"),
        ("empty", "does not start with the '-- MariaDB dump' or '-- MySQL dump'"),
        ("no header", "does not start with the '-- MariaDB dump'"),
    ],
)
def test_verify_rejects_an_incomplete_dump(
    backend: MySQLBackend, backup: Path, tmp_path: Path, cut: str, missing: str
) -> None:
    content = backup.read_bytes()
    if cut == "before the completion line":
        broken = content[: content.rindex(b"-- Dump completed")]
    elif cut == "mid-statement":
        insert = content.index(b"INSERT INTO `sm_kinds`")
        broken = content[: insert + 40]
    elif cut == "empty":
        broken = b""
    else:
        broken = content[content.index(b"\n-- Host:") :]
    path = tmp_path / "broken.sql"
    path.write_bytes(broken)
    with pytest.raises(BackupError) as caught:
        backend.verify(path)
    assert str(caught.value).startswith(f"{path} {missing}")
    if "Dump completed" in missing:
        assert str(caught.value).endswith("the dump was cut short.")


def test_verify_reports_an_unreadable_file(
    backend: MySQLBackend, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.sql"
    with pytest.raises(BackupError, match=r"Cannot read backup .*absent\.sql: No such"):
        backend.verify(missing)


def test_restore_refuses_a_truncated_dump_before_touching_the_database(
    populated: Database, backend: MySQLBackend, backup: Path, spy: Spy
) -> None:
    content = backup.read_bytes()
    backup.write_bytes(content[: len(content) // 2])
    populated.query("CREATE TABLE sm_new (id INT)")
    with pytest.raises(BackupError, match="the dump was cut short"):
        backend.restore(backup)
    assert spy.children == []
    assert "sm_new" in tables(populated)


# -- restore failures ----------------------------------------------------------


def test_restore_fails_on_the_first_sql_error_with_the_clients_message(
    populated: Database, backend: MySQLBackend, backup: Path
) -> None:
    content = backup.read_bytes()
    marker = b"--\n-- Table structure for table `sm_parent`"
    at = content.index(marker)
    broken = content[:at] + b"THIS IS NOT SQL;\n" + content[at:]
    backup.write_bytes(broken)
    line = broken[:at].count(b"\n") + 1
    backend.verify(backup)  # it still looks complete
    populated.query("CREATE TABLE sm_new (id INT)")

    with pytest.raises(BackupError) as caught:
        backend.restore(backup)

    message = str(caught.value)
    assert message == (
        f"Restoring MySQL database '{populated.name}' from {backup} failed; "
        "the database holds only part of the backup: mariadb exited with status 1: "
        f"ERROR 1064 (42000) at line {line}: You have an error in your SQL syntax; "
        "check the manual that corresponds to your MariaDB server version for the "
        "right syntax to use near (statement not shown) at line 1"
    )
    assert "THIS IS NOT SQL" not in message  # a dump's statements hold its rows
    # emptied first, then loaded up to the error and not one statement further
    # (the dump creates a stand-in for each view before the tables after it)
    assert tables(populated) == ["sm_kinds", "sm_kinds_view"]
    assert populated.query("SELECT COUNT(*) FROM sm_kinds") == [(len(ROWS),)]


def test_a_missing_client_fails_the_restore_before_anything_is_dropped(
    populated: Database,
    backend: MySQLBackend,
    backup: Path,
    settings: Any,
    tmp_path: Path,
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    dump_tool = tools / "mariadb-dump"
    dump_tool.symlink_to(shutil.which("mariadb-dump") or "/usr/bin/mariadb-dump")
    settings.MIGRATION_GUARD = {"DUMP_COMMANDS": {"mysql": str(dump_tool)}}
    populated.query("CREATE TABLE sm_new (id INT)")

    assert backend.problems() == [
        f"The MySQL/MariaDB client (for restores) is missing: {tools}/mariadb "
        f"(from MIGRATION_GUARD['DUMP_COMMANDS']['mysql'] = '{dump_tool}') does not "
        "exist or is not executable; install the MariaDB or MySQL client programs "
        "(apt-get install mariadb-client), or name the dump binary in "
        "MIGRATION_GUARD['DUMP_COMMANDS']['mysql']."
    ]
    with pytest.raises(BackupError, match="client \\(for restores\\) is missing"):
        backend.restore(backup)
    assert "sm_new" in tables(populated)


# -- connection settings and secrets -------------------------------------------


def test_a_hostile_password_never_shows_and_works(
    database: Database,
    user_factory: Any,
    spy: Spy,
    tmp_path: Path,
) -> None:
    # routines of another definer cannot be dumped by this user: data only
    populated = database
    populate(populated, code=False)
    user = user_factory("sm_pw", HOSTILE_PASSWORD)
    other = connection_as(populated, USER=user, PASSWORD=HOSTILE_PASSWORD)
    backend = MySQLBackend(other)
    try:
        assert backend.versions()["server"] == populated.query("SELECT VERSION()")[0][0]
        before = logical_dump(populated.name)
        path = tmp_path / "pw.sql"
        backend.dump(path)
        backend.verify(path)
        vandalize(populated, code=False)
        backend.restore(path)
        assert logical_dump(populated.name) == before

        wrong = MySQLBackend(
            connection_as(
                populated, NAME="sm_missing", USER=user, PASSWORD=HOSTILE_PASSWORD
            )
        )
        with pytest.raises(BackupError) as caught:
            wrong.dump(tmp_path / "missing.sql")
        message = str(caught.value)
        assert "Access denied for user" in message and "sm_missing" in message
        assert HOSTILE_PASSWORD not in message
        assert HOSTILE_PASSWORD.strip() not in message
    finally:
        other.close()

    clients = [child for child in spy.children if child.option_file is not None]
    # dump, empty + load, and the failed dump
    assert [Path(child.argv[0]).name for child in clients] == [
        "mariadb-dump",
        "mariadb",
        "mariadb",
        "mariadb-dump",
    ]
    for child in spy.children:
        assert not any(HOSTILE_PASSWORD.strip() in arg for arg in child.argv)
        assert not any(HOSTILE_PASSWORD.strip() in v for v in child.env.values())
    for child in clients:
        assert child.option_mode == 0o600
        assert child.option_file is not None and not child.option_file.exists()
        assert f"user={option_value(user)}\n" in child.option_text
        assert f"password={option_value(HOSTILE_PASSWORD)}\n" in child.option_text


def test_a_personal_my_cnf_does_not_override_the_settings(
    populated: Database,
    backend: MySQLBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """``--defaults-extra-file`` would be read before ~/.my.cnf and lose to it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".my.cnf").write_text(
        "[client]\nuser=sm_nobody\npassword=wrong\n[mysqldump]\nno-data\n"
    )
    monkeypatch.setenv("HOME", str(home))
    path = tmp_path / "backup.sql"
    backend.dump(path)
    assert b"INSERT INTO `sm_kinds`" in path.read_bytes()
    backend.restore(path)


def test_read_default_file_is_included_and_explicit_settings_win(
    populated: Database, tmp_path: Path
) -> None:
    server = backends.server("mysql")
    defaults = tmp_path / "django.cnf"
    defaults.write_text(
        f"[client]\nhost={server.host}\nport={server.port}\nuser=sm_nobody\n"
    )
    other = connection_as(
        populated,
        HOST="",
        PORT="",
        OPTIONS={"read_default_file": str(defaults), "charset": "utf8mb4"},
    )
    # USER from the settings wins over the file's, HOST and PORT come from it
    backend = MySQLBackend(other)
    try:
        text = backend.option_file()
        assert text.splitlines()[1:3] == [f"!include {defaults}", "[client]"]
        path = tmp_path / "backup.sql"
        backend.dump(path)
        head = path.read_bytes()[:400].decode()
        assert f"-- Host: {server.host}    Database: {populated.name}" in head
        before = logical_dump(populated.name)
        populated.query("DROP TABLE sm_kinds")
        backend.restore(path)
        assert logical_dump(populated.name) == before
    finally:
        other.close()


@pytest.mark.parametrize(
    "value",
    [
        HOSTILE_PASSWORD,
        "plain",
        "#starts with a hash",
        "ends with a backslash\\",
        "\\\\two\\nnot a newline\\",
        "multi\nline\r\nvalue",
        '"fully quoted"',
        "'single quoted'",
        "  spaces around  ",
        "semi;colon = equals [group]",
        "émoji 🎉",
    ],
)
def test_option_values_read_back_unchanged(value: str, tmp_path: Path) -> None:
    """The clients' own parser (``my_print_defaults``) reads what was meant."""
    reader = shutil.which("my_print_defaults")
    if reader is None:
        pytest.skip("my_print_defaults is not installed")
    backend = fake_backend(USER=value, PASSWORD=value, HOST="db.example")
    path = tmp_path / "client.cnf"
    path.write_text(backend.option_file(), encoding="utf-8")
    done = subprocess.run(
        [reader, f"--defaults-file={path}", "client"], capture_output=True, check=True
    )
    assert done.stdout.decode("utf-8") == (
        f"--user={value}\n--password={value}\n--host=db.example\n"
    )


def test_settings_map_to_client_options() -> None:
    backend = fake_backend(
        NAME="ignored",
        USER="app",
        HOST="/run/mysqld/mysqld.sock",
        PORT="3307",
        OPTIONS={
            "db": "real_db",
            "passwd": "from-options",
            "ssl": {"ca": "/etc/ca.pem", "cert": "/etc/c.pem", "key": "/etc/k.pem"},
            "ssl_mode": "VERIFY_IDENTITY",
            "connect_timeout": 5,
        },
    )
    assert backend.database_name == "real_db"
    assert backend.password == "from-options"
    assert backend.client_options("mariadb") == {
        "user": '"app"',
        "password": '"from-options"',
        "port": "3307",
        "socket": '"/run/mysqld/mysqld.sock"',
        "connect-timeout": "5",
        "ssl-ca": '"/etc/ca.pem"',
        "ssl-cert": '"/etc/c.pem"',
        "ssl-key": '"/etc/k.pem"',
        "ssl": "",
        "ssl-verify-server-cert": "",
    }
    assert backend.client_options("mysql")["ssl-mode"] == "VERIFY_IDENTITY"
    assert "ssl" not in backend.client_options("mysql")
    assert '[client]\nuser="app"\n' in backend.option_file("mariadb")
    assert backend.option_file("mariadb").endswith("\nssl\nssl-verify-server-cert\n")


# -- tools and versions --------------------------------------------------------


def test_problems_report_a_missing_dump_tool(settings: Any) -> None:
    settings.MIGRATION_GUARD = {"DUMP_COMMANDS": {"mysql": "/nonexistent/mariadb-dump"}}
    hint = (
        "install the MariaDB or MySQL client programs (apt-get install "
        "mariadb-client), or name the dump binary in "
        "MIGRATION_GUARD['DUMP_COMMANDS']['mysql']."
    )
    origin = "(from MIGRATION_GUARD['DUMP_COMMANDS']['mysql'] = '/nonexistent/{}')"
    assert fake_backend().problems() == [
        "The MySQL/MariaDB dump tool is missing: /nonexistent/mariadb-dump "
        f"{origin.format('mariadb-dump')} does not exist or is not executable; "
        f"{hint}",
        "The MySQL/MariaDB client (for restores) is missing: /nonexistent/mariadb "
        f"{origin.format('mariadb-dump')} does not exist or is not executable; "
        f"{hint}",
    ]
    with pytest.raises(BackupError, match="dump tool is missing"):
        fake_backend().dump(Path("/nonexistent/backup.sql"))


def test_problems_report_tools_missing_from_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    problems = fake_backend().problems()
    assert [problem.split(";")[0] for problem in problems] == [
        "The MySQL/MariaDB dump tool is missing: mariadb-dump or mysqldump is not "
        "installed or not on PATH",
        "The MySQL/MariaDB client (for restores) is missing: mariadb or mysql is not "
        "installed or not on PATH",
    ]


def test_no_problems_with_the_installed_clients() -> None:
    if not (shutil.which("mariadb-dump") and shutil.which("mariadb")):
        pytest.skip("the MariaDB clients are not installed")
    assert fake_backend().problems() == []


def test_versions_run_the_client_once_per_process(
    database: Database,
    backend: MySQLBackend,
    spy: Spy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mysql, "_client_versions", {})
    expected = subprocess.run(
        ["mariadb-dump", "--version"], capture_output=True, text=True, check=True
    ).stdout
    spy.children.clear()

    first = backend.versions()
    second = MySQLBackend(database.connection).versions()

    assert first == {
        "server": database.query("SELECT VERSION()")[0][0],
        "client": " ".join(expected.split()),
    }
    assert second == first
    assert first["client"].startswith("mariadb-dump ")
    assert "MariaDB" in first["server"] or first["server"][0].isdigit()
    assert [child.argv[1:] for child in spy.children] == [["--version"]]


def test_missing_tools_names_the_binaries(settings: Any) -> None:
    settings.MIGRATION_GUARD = {"DUMP_COMMANDS": {"mysql": "/nonexistent/mariadb-dump"}}
    assert fake_backend().missing_tools() == [
        "/nonexistent/mariadb-dump",
        "/nonexistent/mariadb",
    ]
