"""Browser fixtures: headless Chromium from Debian's package, driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from browser_support import CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Launch one headless Chromium per test module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """Open a page in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(STEP_TIMEOUT_MS)
    yield opened
    context.close()
