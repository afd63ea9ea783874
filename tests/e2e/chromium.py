"""Debian's headless Chromium under Playwright (no browser download), and what the browser
tests check on every page: no console error, nothing overflowing its box, and no number,
amount, id or time broken across lines."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
# No sandbox as root in a container; no calls home on a machine without internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What an assertion on a page waits for it to come true: Playwright's 5 s is a few polls of a
# page on a quiet machine, and a browser test's call took 65 s in a suite's run with every
# core taken. Only an assertion that fails waits it out.
EXPECT_TIMEOUT_MS = 20_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

# Screenshots are kept as the run's artefacts (git-ignored).
ARTEFACTS = Path(__file__).parents[2] / "test-output"


@contextmanager
def chromium() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# A screenshot is an artefact, not what a test checks: a full page of a busy machine's
# Chromium took 2.5 s alone and passed Playwright's 30 s default in a run with every core taken.
SCREENSHOT_TIMEOUT_MS = 120_000


# Chromium's DevTools sometimes answers a capture with "Unable to capture screenshot" (a
# whole page, in a fresh-clone run with every core taken); asked again, it draws it.
SCREENSHOT_ATTEMPTS = 3


def keep_screenshot(page: Page, path: Path, *, whole: bool = True) -> None:
    """Saves the page as drawn (the whole page unless `whole` is false: only the viewport),
    with animations stopped so that the picture does not wait on them."""
    for attempt in range(1, SCREENSHOT_ATTEMPTS + 1):
        try:
            page.screenshot(
                path=path, full_page=whole, animations="disabled", timeout=SCREENSHOT_TIMEOUT_MS
            )
            return
        except PlaywrightError as refused:
            if "Unable to capture screenshot" not in str(refused) or attempt == SCREENSHOT_ATTEMPTS:
                raise


# What is wrong with a page as drawn: see the script's own comments.
PAGE_CHECKS = (Path(__file__).parent / "page_checks.js").read_text()


def problems(page: Page) -> dict[str, list[str]]:
    """Overflowing elements and wrapped values on the page as drawn."""
    found: dict[str, list[str]] = page.evaluate(PAGE_CHECKS)
    return found


@contextmanager
def watched_page(browser: Browser, width: int, height: int) -> Iterator[Page]:
    """A page in a context of its own; leaving it fails the test if the page raised a
    JavaScript or Content Security Policy error meanwhile."""
    context = browser.new_context(viewport={"width": width, "height": height})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield opened
    context.close()
    assert errors == [], f"the page raised JavaScript or CSP errors: {errors}"
