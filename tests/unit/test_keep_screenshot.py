"""A browser test's screenshot is asked again when Chromium refuses to capture it, a few
times and for that refusal only (tests/e2e/chromium.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.chromium import SCREENSHOT_ATTEMPTS, PlaywrightError, keep_screenshot

REFUSED = "Page.screenshot: Protocol error (Page.captureScreenshot): Unable to capture screenshot"


class Page:
    """Answers each screenshot with the next of ``answers``: an error to raise, or None."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.asked = 0

    def screenshot(self, **options: object) -> bytes:
        self.asked += 1
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return b""


def test_a_refused_capture_is_asked_again_until_drawn(tmp_path: Path) -> None:
    page = Page(PlaywrightError(REFUSED), PlaywrightError(REFUSED), None)

    keep_screenshot(page, tmp_path / "page.png")  # type: ignore[arg-type]

    assert page.asked == 3


def test_a_capture_refused_every_time_fails_the_test(tmp_path: Path) -> None:
    page = Page(*[PlaywrightError(REFUSED)] * SCREENSHOT_ATTEMPTS)

    with pytest.raises(PlaywrightError, match="Unable to capture screenshot"):
        keep_screenshot(page, tmp_path / "page.png")  # type: ignore[arg-type]
    assert page.asked == SCREENSHOT_ATTEMPTS


def test_any_other_error_is_not_asked_again(tmp_path: Path) -> None:
    page = Page(PlaywrightError("Timeout 120000ms exceeded."), None)

    with pytest.raises(PlaywrightError, match="Timeout"):
        keep_screenshot(page, tmp_path / "page.png")  # type: ignore[arg-type]
    assert page.asked == 1
