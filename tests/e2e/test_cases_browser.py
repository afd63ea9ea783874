"""An analyst works five review cases in Debian's headless Chromium, with the keyboard alone
(n: claim the next case, m: a note, f / g: fraud / not fraud), against `fraud run`; the
dashboard's label loop counts the five labels, and the card's next transaction has its
confirmed frauds among its features. No page may break its Content-Security-Policy."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from fraud.domain.identity import Role
from tests.e2e.chromium import keep_screenshot, watched_page
from tests.e2e.test_cases_service import RULES, add_rules, all_scored, submit
from tests.processes import add_account

pytestmark = pytest.mark.e2e

ANALYST = "case-analyst"
PASSWORD = "a long case password"
SCREENSHOTS = Path(__file__).parents[2] / "test-output" / "e2e"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with watched_page(browser, 1440, 1400) as opened:
        yield opened


def reviews(cards: list[str]) -> list[dict]:
    """Purchases at a shop under review, minutes ago, two or three per card."""
    start = datetime.now(UTC) - timedelta(minutes=30)
    return [
        {
            "transaction_id": f"{cards[n % len(cards)]}-{n}",
            "user_id": cards[n % len(cards)],
            "amount": 35.0 + n,
            "merchant": "Review Gifts",
            "timestamp": (start + timedelta(minutes=n)).isoformat(),
            "merchant_type": "online",
            "device_type": "mobile",
            "location_match": 1,
        }
        for n in range(6)
    ]


def test_an_analyst_works_five_cases_with_the_keyboard(service, page: Page) -> None:
    add_account(service.database_url, ANALYST, Role.ANALYST, PASSWORD)
    add_rules(service, *RULES)  # the shop under review's, and the refused shop's
    cards = [f"kb-{uuid.uuid4().hex[:4]}-{n}" for n in range(2)]
    sent = reviews(cards)
    submit(service, sent)
    verdicts = all_scored(service, [t["transaction_id"] for t in sent])
    assert {v["decision"] for v in verdicts.values()} == {"review"}

    page.goto(f"{service.url}/dashboard/queues/default")
    page.fill('input[name="name"]', ANALYST)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="sign in").click()
    expect(page).to_have_url(f"{service.url}/dashboard/queues/default")
    expect(page.locator("#ranked tbody tr")).to_have_count(6)

    frauds: dict[str, int] = dict.fromkeys(cards, 0)
    for n, key in enumerate("fgffg"):
        before = page.url
        page.keyboard.press("n")  # claim the next case, highest priority first
        # The next case's page, loaded: its keys work once its script has run, and on a busy
        # machine its text showed before that (while the URL was still the case before).
        page.wait_for_url(
            lambda url, before=before: (
                url != before and re.search(r"/dashboard/cases/\d+$", url) is not None
            )
        )
        state = page.locator("#case-state")
        expect(state).to_have_text(f"held by {ANALYST}")
        if n == 0:
            page.keyboard.press("m")
            expect(page.locator("#note-text")).to_be_focused()
            page.keyboard.type("called the card holder: not theirs")
            page.keyboard.press("Enter")
            expect(page.locator("#notes")).to_contain_text("called the card holder")
        page.keyboard.press(key)
        word = "fraud" if key == "f" else "not fraud"
        expect(state).to_have_text(f"resolved: {word} by {ANALYST}")
        card = page.locator("section#case a[href^='/dashboard/cards/']").first.inner_text()
        frauds[card] += key == "f"
        if n == 0:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            keep_screenshot(page, SCREENSHOTS / "case.png")

    page.goto(f"{service.url}/dashboard/queues/default")
    expect(page.locator("#ranked tbody tr")).to_have_count(1)  # the sixth waits
    page.goto(f"{service.url}/")
    page.wait_for_function(
        "() => Chart.getChart('chart-labels').data.datasets"
        ".reduce((sum, d) => sum + d.data.reduce((a, b) => a + (b || 0), 0), 0) === 5",
        timeout=20_000,
    )

    # The card's next transaction knows the frauds confirmed on it.
    card = max(frauds, key=lambda c: frauds[c])
    later = {
        **sent[0],
        "transaction_id": f"{card}-next",
        "user_id": card,
        "merchant": "Corner Grocery",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    submit(service, [later])
    (found,) = all_scored(service, [later["transaction_id"]]).values()
    assert found["features"]["card_confirmed_frauds"] == frauds[card] >= 1
