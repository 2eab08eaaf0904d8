"""The read-only admin pages, through Django's test client on each backend.

The same pages in a real browser: ``tests/browser/``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from migration_guard.models import MigrationRun, Outcome
from migration_guard.run import ledger
from tests.conftest import ROOT, Database

RUNS = "/admin/migration_guard/migrationrun/"
BACKUPS = "/admin/migration_guard/backup/"
EVIL_NAME = "0009_<script>alert('name')</script>"
EVIL_ERROR = (
    "RuntimeError: <script>alert('error')</script> & <b>bold</b> "
    "<img src=x onerror=alert(1)>"
)


def client_for(user: User | None) -> Client:
    client = Client(HTTP_HOST="localhost")
    if user is not None:
        client.force_login(user)
    return client


def staff(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def superuser() -> User:
    return User.objects.create_superuser("boss", "boss@example.com", "pw")


def main(html: str) -> str:
    """The page without the navigation sidebar (which has other apps' links)."""
    return html.split('<div id="content-main">', 1)[1]


def run_ids(html: str) -> list[int]:
    """The run ids of a changelist page, in order."""
    return [
        int(i) for i in re.findall(r'<th class="field-id"><a href="[^"]*">(\d+)<', html)
    ]


@pytest.fixture
def history(database: Database) -> list[MigrationRun]:
    """Real runs: apply all, back to catalog 0002 (backed up), forward, no-op."""
    call_command("guardedmigrate", verbosity=0)
    call_command("guardedmigrate", "catalog", "0002", verbosity=0, interactive=False)
    call_command("guardedmigrate", verbosity=0)
    call_command("guardedmigrate", verbosity=0)
    return list(MigrationRun.objects.order_by("pk"))


def evil_run() -> MigrationRun:
    """A ledger row whose migration name and error carry markup."""
    run = ledger.start_run(
        "default",
        command="guardedmigrate",
        direction="forwards",
        plan=[{"app": "evil", "name": EVIL_NAME, "backwards": False}],
        applied_before=[],
    )
    ledger.finish_run(run, Outcome.FAILED, error=EVIL_ERROR)
    return run


def test_runs_list_filters_and_search(history: list[MigrationRun]) -> None:
    client = client_for(superuser())
    first, backward, forward, noop = (run.pk for run in history)
    html = client.get(RUNS).content.decode()
    assert run_ids(html) == [noop, forward, backward, first]
    assert "addlink" not in main(html) and "<select" not in main(html)
    assert 'name="action"' not in html and f'href="{RUNS}add/"' not in html

    def ids(query: str) -> list[int]:
        response = client.get(RUNS + "?" + query)
        assert response.status_code == 200
        return run_ids(response.content.decode())

    assert ids("outcome__exact=noop") == [noop]
    assert ids("direction__exact=backwards") == [backward]
    assert ids("alias=default&outcome__exact=success") == [forward, backward, first]
    assert ids("alias=other") == []
    assert ids("started_at__gte=2000-01-01+00:00:00%2B00:00") == [
        noop,
        forward,
        backward,
        first,
    ]
    assert ids("started_at__lt=2000-01-01+00:00:00%2B00:00") == []
    # search: part of an app or a name, or app.start-of-name
    assert ids("q=catalog.0003") == [forward, backward, first]
    assert ids("q=CATALOG.0003_delete") == [forward, backward, first]
    assert ids("q=order_status") == [forward, backward, first]
    assert ids("q=legacyprice+orders") == [forward, backward, first]
    assert ids("q=sessions") == [first]
    assert ids("q=catalog.0001") == [first]
    assert ids("q=0001_initial") == [first]
    # JSON keys and values that are not names never match
    assert ids("q=backwards") == []
    assert ids("q=app") == []
    assert ids("q=false") == []
    assert ids("q=catalog.delete") == []
    assert ids("q=%5B%5E%22%5D*") == []  # [^"]* is taken literally


def test_run_detail_shows_plan_timings_and_backup(
    history: list[MigrationRun],
) -> None:
    client = client_for(superuser())
    backward = history[1]
    assert backward.backup_id
    html = client.get(f"{RUNS}{backward.pk}/change/").content.decode()
    assert "<td>unapply</td><td>orders.0003_order_status</td>" in html
    seconds = {e["name"]: e["seconds"] for e in backward.executed}
    for name, value in seconds.items():
        assert f"{value:.3f}s" in html, name
    assert f"Total: {sum(seconds.values()):.3f}s" in html
    url = reverse("admin:migration_guard_backup_change", args=[backward.backup_id])
    assert f'<a href="{url}">{backward.backup_id}</a>' in html
    assert (
        "No backup taken."
        in client.get(f"{RUNS}{history[3].pk}/change/").content.decode()
    )
    # no write control: no save, delete or add, and no form field
    assert not re.search(r'name="_(save|continue|addanother)"', html)
    assert "deletelink" not in html and "addlink" not in main(html)
    assert "<textarea" not in html and "<select" not in main(html)


def test_pruned_backup_is_named_without_a_link(
    history: list[MigrationRun], backup_dir: Path
) -> None:
    backward = history[1]
    for path in backup_dir.glob(backward.backup_id + "*"):
        path.unlink()
    html = client_for(superuser()).get(f"{RUNS}{backward.pk}/change/").content.decode()
    assert f"{backward.backup_id} (not in the catalogue: pruned or deleted)" in html


def test_every_write_is_refused(history: list[MigrationRun]) -> None:
    client = client_for(superuser())
    pk = history[0].pk
    posts = {
        f"{RUNS}add/": {"alias": "x"},
        f"{RUNS}{pk}/change/": {"alias": "x", "outcome": "success"},
        f"{RUNS}{pk}/delete/": {"post": "yes"},
        RUNS: {"action": "delete_selected", "_selected_action": [pk]},
        BACKUPS: {},
        f"{BACKUPS}{history[1].backup_id}/": {"verify": "1"},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    assert client.get(f"{RUNS}add/").status_code == 403
    assert client.get(f"{RUNS}{pk}/delete/").status_code == 403
    assert list(MigrationRun.objects.order_by("pk")) == history
    assert MigrationRun.objects.get(pk=pk).alias == "default"


def test_markup_in_names_and_errors_is_text(database: Database) -> None:
    call_command("guardedmigrate", verbosity=0)
    run = evil_run()
    client = client_for(superuser())
    for url in (RUNS, f"{RUNS}{run.pk}/change/", f"{RUNS}?q=script"):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<b>bold" not in html, url
    detail = client.get(f"{RUNS}{run.pk}/change/").content.decode()
    assert (
        "<td>evil.0009_&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;</td>"
        in detail
    )
    assert (
        '<pre class="migration-guard-error">RuntimeError: &lt;script&gt;alert('
        "&#x27;error&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; "
        "&lt;img src=x onerror=alert(1)&gt;</pre>"
    ) in detail
    assert run_ids(client.get(f"{RUNS}?q=evil.0009_%3Cscript").content.decode()) == [
        run.pk
    ]


def test_permission_is_required(history: list[MigrationRun]) -> None:
    detail = f"{RUNS}{history[0].pk}/change/"
    backup = f"{BACKUPS}{history[1].backup_id}/"
    pages = (RUNS, detail, BACKUPS, backup)
    nobody = client_for(staff("clerk", "view_user"))
    for url in pages:
        assert nobody.get(url).status_code == 403, url
    index = nobody.get("/admin/").content.decode()
    assert "Migration runs" not in index and "Backups" not in index
    anonymous = client_for(None)
    for url in pages:
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/?next=")
    # a user who may change runs but not view them is refused as well
    changer = client_for(staff("changer", "change_migrationrun"))
    assert changer.get(RUNS).status_code == 403
    viewer = client_for(staff("auditor", "view_migrationrun"))
    for url in pages:
        assert viewer.get(url).status_code == 200, url
    index = viewer.get("/admin/").content.decode()
    assert "Migration runs" in index and "Backups" in index
    assert f'href="{RUNS}add/"' not in index


def test_backup_list_and_cheap_status(
    history: list[MigrationRun], backup_dir: Path
) -> None:
    backward = history[1]
    call_command("migrationbackups", "create", stdout=io.StringIO())
    manual = sorted(backup_dir.glob("*.json"))[-1]
    manifest = json.loads(manual.read_text())
    assert manifest["reason"] == "manual"
    client = client_for(superuser())
    statements: list[str] = []

    def record(execute: Any, sql: str, *args: Any) -> Any:
        statements.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(record):
        html = client.get(BACKUPS).content.decode()
    run_url = reverse("admin:migration_guard_migrationrun_change", args=[backward.pk])
    assert f'<a href="{run_url}">run {backward.pk}</a>' in html
    taken = [run.backup_id for run in history if run.backup_id]
    assert len(taken) == 3  # the no-op run took none
    assert html.count("file present, size matches") == 4
    assert "4 backups" in html
    for backup_id in [*taken, manifest["id"]]:
        assert f'<a href="{BACKUPS}{backup_id}/">{backup_id}</a>' in html
    # the list reads no backup file: the cheap check is a stat
    data_file = backup_dir / manifest["filename"]
    data_file.write_bytes(data_file.read_bytes() + b"x")
    html = client.get(BACKUPS).content.decode()
    assert f"size differs: {manifest['size'] + 1} bytes, manifest says" in html
    data_file.unlink()
    assert "file missing" in client.get(BACKUPS).content.decode()
    # one query for the run links (sessions and user aside)
    assert sum("migration_guard_migrationrun" in sql for sql in statements) == 1


def test_backup_detail_verifies_only_when_asked(
    history: list[MigrationRun], backup_dir: Path
) -> None:
    backward = history[1]
    url = f"{BACKUPS}{backward.backup_id}/"
    client = client_for(superuser())
    html = client.get(url).content.decode()
    assert "verify in full" in html and 'id="verify-result"' not in html
    run_url = reverse("admin:migration_guard_migrationrun_change", args=[backward.pk])
    assert f'<a href="{run_url}">run {backward.pk}</a>' in html
    assert "<td>unapply</td><td>orders.0003_order_status</td>" in html
    html = client.get(url + "?verify=1").content.decode()
    assert re.search(
        rf'<li class="success" id="verify-result">Backup {backward.backup_id} '
        r"verified: [0-9.]+ [KM]?B, sha256 matches, complete [\w-]+ file\.</li>",
        html,
    )
    # same size, other bytes: the cheap check passes, the full one refuses
    manifest = json.loads((backup_dir / f"{backward.backup_id}.json").read_text())
    path = backup_dir / manifest["filename"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    html = client.get(url + "?verify=1").content.decode()
    assert '<li class="error" id="verify-result">' in html
    assert "does not match its manifest" in html
    assert client.get(f"{BACKUPS}nope/").status_code == 404


def test_admin_module_costs_nothing_without_contrib_admin(tmp_path: Path) -> None:
    script = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["migration_guard"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db"}},
)
django.setup()
from django.db import connection
queries = []
with connection.execute_wrapper(lambda run, sql, *args: queries.append(sql)):
    import migration_guard.admin
from django.contrib.admin import sites
from django.utils.functional import empty
print(len(queries), sites.site._wrapped is empty)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0 True\n"  # no query, admin.site never built
    assert not (tmp_path / "db").exists()  # not even a connection


@pytest.mark.backends("sqlite")
def test_the_backup_entry_needs_no_migration(database: Database) -> None:
    out = io.StringIO()
    call_command(
        "makemigrations", "migration_guard", check=True, dry_run=True, stdout=out
    )
    assert out.getvalue() == "No changes detected in app 'migration_guard'\n"
    call_command("check", fail_level="WARNING", stdout=out)


@pytest.mark.backends("sqlite")
def test_backups_in_a_django_storage(
    database: Database, settings: Any, tmp_path: Path
) -> None:
    location = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "migration_guard": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    call_command("guardedmigrate", verbosity=0)
    backup_id = MigrationRun.objects.get().backup_id
    client = client_for(superuser())
    html = client.get(BACKUPS).content.decode()
    assert (
        "Read from STORAGES[&#x27;migration_guard&#x27;] (FileSystemStorage)." in html
    )
    assert "file present, size matches" in html
    html = client.get(f"{BACKUPS}{backup_id}/?verify=1").content.decode()
    assert f'<li class="success" id="verify-result">Backup {backup_id} verified' in html
    manifest = json.loads((location / f"{backup_id}.json").read_text())
    (location / manifest["filename"]).unlink()
    assert "file missing" in client.get(BACKUPS).content.decode()


def test_a_backup_dir_open_to_others_is_not_read(
    database: Database, backup_dir: Path
) -> None:
    call_command("guardedmigrate", verbosity=0, no_backup=True)
    call_command("migrationbackups", "create", stdout=io.StringIO())
    (manifest,) = backup_dir.glob("*.json")
    backup_dir.chmod(0o777)
    client = client_for(superuser())
    html = main(client.get(BACKUPS).content.decode())
    assert (
        "is writable by other users (mode 0777)" in client.get(BACKUPS).content.decode()
    )
    assert manifest.stem not in html
    assert client.get(f"{BACKUPS}{manifest.stem}/").status_code == 404
