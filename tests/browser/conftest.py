"""A live Django server and Debian's Chromium driven by Playwright.

Playwright's Python package drives the system browser (``/usr/bin/chromium``,
or ``MIGRATION_GUARD_CHROMIUM``); ``playwright install`` is never needed. A
missing browser or package skips these tests, and fails them under
``CI=true``.

The server is Django's ``LiveServerThread`` (what pytest-django's
``live_server`` runs), started per test once the ``database`` fixture has
pointed ``default`` at the fresh database of the backend under test.
pytest-django's own ``live_server`` is not used: it is session-scoped, pulls
in ``transactional_db`` (which sets up and flushes pytest-django's test
database, not this suite's per-test database) and hands the server thread the
connections it saw at session start.

Playwright's sync API keeps an event loop running in the test's thread, so
Django refuses ORM calls there once a browser is open: a test prepares its
data in fixtures listed before ``browser``.

Screenshots go to ``<pytest tmp>/screenshots/``; with
``MIGRATION_GUARD_SCREENSHOTS=1`` they are also copied to
``tests/browser/screenshots/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, Database

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable (Debian's package), with Playwright importable."""
    path = os.environ.get("MIGRATION_GUARD_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not os.access(path, os.X_OK):
        _unavailable("no chromium executable (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc}); pip install -e '.[test]'")
    return path


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("screenshots", numbered=False)
    yield path
    if os.environ.get("MIGRATION_GUARD_SCREENSHOTS"):
        keep = HERE / "screenshots"
        keep.mkdir(exist_ok=True)
        for shot in path.glob("*.png"):
            shutil.copy2(shot, keep / shot.name)


@pytest.fixture
def live_url(database: Database) -> Iterator[str]:
    """A live server on 127.0.0.1 serving the test database and static files."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    thread = LiveServerThread("127.0.0.1", StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


@dataclass
class Browser:
    """A Chromium page on the live server, with screenshots and dialogs kept."""

    page: Any
    base: str
    shots: Path
    prefix: str
    taken: list[Path] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def goto(self, url: str) -> Any:
        return self.page.goto(self.base + url)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    def login(self, username: str, password: str = "pw") -> None:
        self.goto("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.follow("input[type=submit]")

    def follow(self, selector: str) -> None:
        """Click a link (or button) and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def logout(self) -> None:
        self.follow("#logout-form button")

    def text(self, selector: str = "#content") -> str:
        return str(self.page.inner_text(selector))

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())


@pytest.fixture
def browser(
    chromium: str,
    live_url: str,
    tmp_path: Path,
    screenshot_dir: Path,
    vendor: str,
    request: pytest.FixtureRequest,
) -> Iterator[Browser]:
    """A fresh Chromium profile; prepare data in fixtures listed before this one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        name = request.node.originalname.removeprefix("test_")
        session = Browser(page, live_url, screenshot_dir, f"{vendor}-{name}")

        def on_dialog(dialog: Any) -> None:
            session.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        try:
            yield session
        finally:
            context.close()
    assert session.dialogs == [], "a page ran a script that opened a dialog"
