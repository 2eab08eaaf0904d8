"""The read-only admin pages in Chromium, against a live server, per backend.

The data is real: ``guardedmigrate`` runs on the testproject (forwards, a
backward run, forwards again, then the ``failing`` scenario), with their
backups in the store, plus one ledger row whose migration name and error
carry ``<script>`` markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from migration_guard.exceptions import MigrationFailed
from migration_guard.models import MigrationRun
from tests.browser.conftest import Browser
from tests.conftest import Database
from tests.test_admin import EVIL_ERROR, EVIL_NAME, evil_run

RUNS = "/admin/migration_guard/migrationrun/"
BACKUPS = "/admin/migration_guard/backup/"
# anything in the page body that could change data
WRITE_CONTROLS = ", ".join(
    [
        "#content .addlink",
        "#content .deletelink",
        "#content [name=_save]",
        "#content [name=_continue]",
        "#content [name=_addanother]",
        "#content select[name=action]",
        "#content form[method=post] button",
        "#content form[method=post] input[type=submit]",
        "#content form[method=post] select",
        "#content form[method=post] textarea",
    ]
)


@dataclass
class History:
    first: MigrationRun
    backward: MigrationRun
    failed: MigrationRun
    evil: MigrationRun


def _users() -> None:
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_user"))


@pytest.fixture
def history(database: Database, settings: Any) -> History:
    """Real runs and backups on the backend under test, and two users."""
    call_command("guardedmigrate", verbosity=0)
    call_command("guardedmigrate", "catalog", "0002", verbosity=0, interactive=False)
    call_command("guardedmigrate", verbosity=0)
    settings.MIGRATION_MODULES = {"scenario": "tests.scenarios.failing"}
    call_command("guardedmigrate", "scenario", "0001", verbosity=0)
    with pytest.raises(MigrationFailed):
        call_command("guardedmigrate", "scenario", verbosity=0)
    evil_run()
    _users()
    runs = list(MigrationRun.objects.order_by("pk"))
    assert len(runs) == 6
    return History(first=runs[0], backward=runs[1], failed=runs[4], evil=runs[5])


@pytest.fixture
def one_run(database: Database) -> str:
    """One real run (its backup included) and the users; the backup's id."""
    call_command("guardedmigrate", verbosity=0)
    _users()
    backup_id = MigrationRun.objects.get().backup_id
    assert backup_id
    return backup_id


def assert_read_only(browser: Browser) -> None:
    assert browser.count(WRITE_CONTROLS) == 0, browser.page.url


def listed_ids(browser: Browser) -> list[int]:
    return [
        int(t)
        for t in browser.page.locator("#result_list th.field-id a").all_inner_texts()
    ]


def test_superuser_tour(history: History, browser: Browser, vendor: str) -> None:
    browser.login("boss")
    app = browser.text("#content-main")
    assert "Backups" in app and "Migration runs" in app
    browser.shot("index")

    # the runs: newest first, no add button, no actions
    browser.follow("#content-main a:text-is('Migration runs')")
    assert listed_ids(browser) == [6, 5, 4, 3, 2, 1]
    assert_read_only(browser)
    browser.shot("runs")

    # filters, by clicking them
    browser.follow("#changelist-filter a:text-is('backwards')")
    assert listed_ids(browser) == [history.backward.pk]
    assert "direction__exact=backwards" in browser.page.url
    browser.follow("#changelist-filter a:text-is('Today')")
    assert listed_ids(browser) == [history.backward.pk]
    browser.shot("runs-filtered")
    browser.goto(RUNS)
    # MariaDB cannot roll DDL back: there the failed run was restored
    failed = history.failed
    assert failed.outcome == ("restored" if vendor == "mysql" else "failed")
    browser.follow(f"#changelist-filter a:text-is('{failed.get_outcome_display()}')")
    same = [r.pk for r in (history.evil, failed) if r.outcome == failed.outcome]
    assert listed_ids(browser) == same

    # search by migration
    browser.goto(RUNS)
    browser.page.fill("#searchbar", "catalog.0003")
    with browser.page.expect_navigation():
        browser.page.press("#searchbar", "Enter")
    assert listed_ids(browser) == [3, 2, 1]
    browser.shot("runs-search")

    # a failed run: its plan and its error, preformatted
    browser.goto(f"{RUNS}{history.failed.pk}/change/")
    plan = browser.text(".field-plan_table")
    assert "1\tapply\tscenario.0002_add_columns_then_fail" in plan
    error = browser.page.locator("pre.migration-guard-error")
    assert "RuntimeError: boom: scenario migration failed on purpose" in (
        error.inner_text()
    )
    assert_read_only(browser)
    browser.shot("run-failed")

    # a backward run: what was executed, with timings, and its backup
    browser.goto(f"{RUNS}{history.backward.pk}/change/")
    executed = browser.text(".field-executed_table")
    assert re.search(r"unapplied\s+orders\.0003_order_status\s+\d+\.\d{3}s", executed)
    assert re.search(r"Total: \d+\.\d{3}s", executed)
    browser.shot("run-backward")
    browser.follow(f".field-backup_link a:text-is('{history.backward.backup_id}')")
    assert browser.page.url.endswith(f"{BACKUPS}{history.backward.backup_id}/")
    assert "file present, size matches" in browser.text("#content-main")
    assert_read_only(browser)
    browser.follow("#verify-link")
    verdict = browser.text("#verify-result")
    assert verdict.startswith(f"Backup {history.backward.backup_id} verified:")
    assert "sha256 matches" in verdict
    browser.shot("backup-verified")

    # the catalogue: every backup of the runs, each linked to its run
    browser.follow(".breadcrumbs a:text-is('Backups')")
    taken = [h.backup_id for h in (history.first, history.backward) if h.backup_id]
    ids = browser.page.locator("#result_list tbody th a").all_inner_texts()
    assert set(taken) <= set(ids)
    assert browser.count("#result_list td.backup-status.ok") == len(ids)
    assert_read_only(browser)
    browser.shot("backups")
    browser.follow(f"#result_list a:text-is('run {history.backward.pk}')")
    assert browser.page.url.endswith(f"{RUNS}{history.backward.pk}/change/")

    # markup in a migration name and an error is shown as text
    browser.goto(f"{RUNS}{history.evil.pk}/change/")
    assert f"evil.{EVIL_NAME}" in browser.text(".field-plan_table")
    assert browser.page.locator("pre.migration-guard-error").inner_text() == EVIL_ERROR
    injected = browser.page.evaluate(
        "() => [...document.querySelectorAll('script, img')]"
        ".filter(e => (e.textContent + e.outerHTML).includes('alert')).length"
    )
    assert injected == 0
    browser.shot("run-escaped")
    assert browser.dialogs == []


def test_user_without_permission_is_refused(one_run: str, browser: Browser) -> None:
    pages = [RUNS, f"{RUNS}1/change/", BACKUPS, f"{BACKUPS}{one_run}/"]
    for url in pages:  # not logged in: the login page
        browser.goto(url)
        assert browser.page.url.startswith(browser.base + "/admin/login/?next=")
    browser.login("clerk")
    assert "Migration runs" not in browser.text("#content-main")
    assert "Backups" not in browser.text("#content-main")
    browser.shot("index")
    for url in pages:
        response = browser.goto(url)
        assert response.status == 403, url
    browser.shot("refused")
    browser.goto("/admin/")
    browser.logout()
    browser.login("boss")
    for url in pages:
        assert browser.goto(url).status == 200, url
        assert_read_only(browser)
