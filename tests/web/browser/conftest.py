"""Headless Chromium (Debian's package) driven by Playwright against a live test server.

Screenshots go to test-artifacts/screenshots/ at the top of the checkout; a test that fails
leaves one named failed-<test name>.png there, of the page as it was when it failed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
# As the machine notes say: no sandbox as root, and none of Chromium's own network chatter,
# which this machine's closed network refuses (and which would slow every start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"  # tests/conftest.py gives every member this one


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API keeps an event loop in this thread; Django then refuses ORM calls
    from the test body unless told that this (test-only) mix is intended. Only for the test:
    the variable must not leak into subprocesses of other tests (`check --deploy` refuses it).
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A Chromium for one test. Not shared across tests: while Playwright runs, this thread has
    an event loop, and every other test in this process would then find Django's ORM refusing
    to work."""
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need /usr/bin/chromium (scripts/ensure-chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # Close the database connections the test body opened while Playwright's event loop
        # was up: left open, one of them outlived the test process's own connection, and
        # PostgreSQL then refused to drop the test database at the end of the run ("being
        # accessed by other users"). Any later ORM call simply opens a new one.
        connections.close_all()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Keeps each phase's report on the test item, for `page` to see whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(
    request: pytest.FixtureRequest, live_server: Any, eager_tasks: None, browser: Browser
) -> Iterator[Page]:
    """A fresh browser tab at 1280x900, its base URL the live server; matching runs in-process.

    The live server (and the test database) come up before the browser and go after it.
    """
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^\w.-]+", "-", request.node.name)
        # A page that crashed has nothing to show; the failure itself is reported anyway.
        with contextlib.suppress(PlaywrightError):
            screenshot(tab, f"failed-{name}")
    context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, user: User) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/cases/")
