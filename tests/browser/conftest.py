"""Chromium through Playwright against pytest-django's live server, with the demo data seeded.

Debian's Chromium is used as it is (never `playwright install`). Each test gets a fresh browser
context, so no cookie or session leaks from one test into the next, and leaves a full-page
screenshot of where it ended under test-output/screenshots/<test name>.png.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect, sync_playwright

from revops.tenancy.demo import seed_demo

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse the
# ORM calls the tests and fixtures make from that thread (SynchronousOnlyOperation).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite may run as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous for a loaded CI machine, short enough that a broken page fails instead of hanging.
TIMEOUT_MS = 15_000
ASSET_TYPES = {"stylesheet", "script", "image", "font"}

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser():
    if settings.SESSION_COOKIE_SECURE:
        # Over the live server's plain http the browser would drop the session cookie and every
        # login would bounce back to the form; say why instead of failing obscurely.
        pytest.fail(
            "SESSION_COOKIE_SECURE is on: run browser tests through `make test` "
            "(or set DJANGO_SECURE_COOKIES=0)."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo(transactional_db):
    """The demo organizations and people, committed so the live server's thread sees them.
    (Without the 180 days of synthetic activity: each test builds the leads it needs.)"""
    seed_demo(with_activity=False)


@pytest.fixture
def page(browser, live_server, demo, request):
    """A page in a fresh context; fails the test on uncaught JS errors or broken assets."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = []

    def note_broken_asset(response):
        # A missing stylesheet or htmx would leave pages that still "pass" but look or act wrong.
        if response.request.resource_type in ASSET_TYPES and response.status >= 400:
            problems.append(f"{response.status} for {response.url}")

    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on("response", note_broken_asset)
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
        finally:
            context.close()
    assert not problems, problems
