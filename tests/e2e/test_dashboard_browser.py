"""The dashboard in Debian's headless Chromium, driven by Playwright, against `fraud run`.

Fifty transactions go in over HTTP; an analyst signs in, the page must count
them, list them, open one, take the analyst's label and show who gave it; after
signing out, the label API turns the browser away. No page may break its
Content-Security-Policy. An analyst writes a rule on the rules page, validates it,
backtests it and switches it on. Screenshots land in test-output/e2e/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from fraud.domain.identity import Role
from tests.e2e.chromium import keep_screenshot, watched_page
from tests.processes import add_account

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).parents[2] / "test-output" / "e2e"
ANALYST = "e2e-analyst"
PASSWORD = "a long e2e password"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with watched_page(browser, 1440, 1600) as opened:
        yield opened


def submit_fifty(service) -> list[dict]:
    """The fifty transactions below, each accepted over HTTP."""
    sent = fifty_transactions()
    with service.client() as http:
        for transaction in sent:
            assert http.post(f"{service.url}/transaction", json=transaction).status_code == 202
    return sent


def sign_in_as_analyst(page: Page) -> None:
    """On the sign-in page a protected page sent the browser to: sign in (it is sent back)."""
    page.fill('input[name="name"]', ANALYST)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="sign in").click()


def fifty_transactions() -> list[dict]:
    """Five card holders with steady habits, and a burst of odd purchases at the end."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    transactions = []
    for n in range(50):
        odd = n >= 44
        transactions.append(
            {
                "transaction_id": f"e2e-{n:03d}",
                "user_id": f"e2e-user-{n % 5}",
                "amount": 4_800.0 + n if odd else 20.0 + (n % 7) * 3.5,
                "merchant": f"Far Away Electronics {n}" if odd else f"Corner Shop {n % 5}",
                "timestamp": (start + timedelta(minutes=37 * n)).isoformat(),
                "merchant_type": "online" if odd else "grocery",
                "device_type": "desktop" if odd else "pos",
                "location_match": 0 if odd else 1,
            }
        )
    return transactions


def test_an_analyst_signs_in_watches_labels_and_signs_out(service, page: Page) -> None:
    add_account(service.database_url, ANALYST, Role.ANALYST, PASSWORD)
    submit_fifty(service)

    page.goto(f"{service.url}/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))  # nobody is let in unnamed
    sign_in_as_analyst(page)
    expect(page).to_have_url(f"{service.url}/")
    expect(page.locator("header .who")).to_contain_text(ANALYST)
    # The counters catch up through polling: every transaction counted and none pending.
    expect(page.locator('[data-count="total"]')).to_have_text("50", timeout=20_000)
    expect(page.locator('[data-count="pending"]')).to_have_text("0", timeout=20_000)
    decided = sum(
        int(page.locator(f'[data-count="{decision}"]').inner_text())
        for decision in ("approve", "review", "decline")
    )
    assert decided == 50

    # The latest table lists the newest transactions first, as links to their pages.
    recent = page.locator("#recent tbody tr")
    expect(recent).to_have_count(20)
    expect(recent.first).to_contain_text("e2e-049")
    flagged_count = sum(
        int(page.locator(f'[data-count="{decision}"]').inner_text())
        for decision in ("review", "decline")
    )
    flagged_rows = page.locator("#flagged tbody tr")
    expect(flagged_rows).to_have_count(min(flagged_count, 20))
    for badge in flagged_rows.locator(".badge").all_inner_texts():
        assert badge in ("review", "decline")

    # The charts are drawn from the live window: once the buckets holding them are
    # complete, the decisions chart's bars add up to the fifty verdicts.
    page.wait_for_function(
        "() => Chart.getChart('chart-decisions').data.datasets"
        ".reduce((sum, d) => sum + d.data.reduce((a, b) => a + (b || 0), 0), 0) === 50",
        timeout=15_000,
    )
    expect(page.locator('[data-live="throughput"]')).to_have_text(re.compile(r"^\d+\.\d$"))
    # The model's life: the registry lists the champion; drift is drawn per feature, and the
    # badge says there are too few values yet to call anything stable or drifted.
    expect(page.locator("#models-panel tbody tr")).to_have_count(1)
    expect(page.locator("#models-panel tbody tr")).to_contain_text("champion")
    expect(page.locator("#drift-state")).to_have_text(
        re.compile(r"^too few values to judge: \d+ of 200$"), timeout=15_000
    )
    page.wait_for_function("() => Chart.getChart('chart-drift').data.labels.length === 12")
    expect(page.locator("#challenge-detail")).to_contain_text("no challenger")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    keep_screenshot(page, SCREENSHOTS / "dashboard.png")

    # Open one transaction from the table, confirm it as fraud, and see the label.
    target = flagged_rows.first if flagged_count else recent.first
    transaction_id = target.get_attribute("data-transaction-id")
    # A poll keeps the rows that did not change, so a click made as the tables refresh lands.
    last_update = page.locator("#updated").inner_text()
    target.evaluate("row => { row.dataset.seen = 'before the poll'; }")
    expect(page.locator("#updated")).not_to_have_text(last_update, timeout=10_000)
    expect(target).to_have_attribute("data-seen", "before the poll")
    target.locator("a.transaction-link").click()
    expect(page).to_have_url(f"{service.url}/dashboard/transactions/{transaction_id}")
    expect(page.locator("h2")).to_contain_text(transaction_id)
    expect(page.locator("#timeline")).to_contain_text("recorded: verdict stored")
    if flagged_count:  # the model's reasons, each with its share of the risk
        expect(page.locator("#reasons .share .bar").first).to_be_visible()
    page.get_by_role("button", name="Confirm fraud").click()
    expect(page.locator("#label-state")).to_contain_text(f"confirmed fraud by {ANALYST}")
    expect(page.locator("#timeline li.labelled")).to_contain_text(f"labelled by {ANALYST}")
    page.reload()
    expect(page.locator("#label-history")).to_contain_text(f"fraud by {ANALYST}")
    keep_screenshot(page, SCREENSHOTS / "transaction.png")

    # Back on the dashboard, the label loop counts the confirmation among today's labels.
    page.goto(f"{service.url}/")
    page.wait_for_function(
        "() => Chart.getChart('chart-labels').data.datasets[0].data"
        ".reduce((a, b) => a + b, 0) === 1",
        timeout=15_000,
    )

    viewer = service.client(Role.VIEWER)
    stored = viewer.get(f"{service.url}/transaction/{transaction_id}", timeout=5).json()
    assert stored["label"]["is_fraud"] is True
    assert stored["label"]["analyst"] == ANALYST
    assert [change["analyst"] for change in stored["label_history"]] == [ANALYST]

    # Back on the dashboard the label shows in the tables.
    page.goto(f"{service.url}/")
    row = page.locator(f'#recent tbody tr[data-transaction-id="{transaction_id}"]')
    if flagged_count:
        row = page.locator(f'#flagged tbody tr[data-transaction-id="{transaction_id}"]')
    expect(row.locator(".label-state")).to_have_text(f"confirmed fraud by {ANALYST}")
    assert (SCREENSHOTS / "dashboard.png").stat().st_size > 10_000

    # The API documentation renders under the same policy.
    page.goto(f"{service.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)

    # Signing out ends the session: the label API turns this browser away.
    page.goto(f"{service.url}/")
    page.get_by_role("button", name="sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    refused = page.request.post(
        f"{service.url}/transaction/{transaction_id}/label",
        data='{"is_fraud": false}',
        headers={"Content-Type": "application/json"},
    )
    assert refused.status == 401
    assert viewer.get(f"{service.url}/transaction/{transaction_id}").json()["label"]["is_fraud"]


def test_an_analyst_writes_a_rule_backtests_it_and_switches_it_on(service, page: Page) -> None:
    add_account(service.database_url, ANALYST, Role.ANALYST, PASSWORD)
    sent = submit_fifty(service)
    viewer = service.client(Role.VIEWER)
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while viewer.get(f"{service.url}/api/dashboard").json()["counts"]["pending"]:
        assert datetime.now(UTC) < deadline, "the fifty transactions were not all scored"
        time.sleep(0.2)
    far_away = [t for t in sent if t["merchant"].startswith("Far Away")]

    page.goto(f"{service.url}/dashboard/rules")
    sign_in_as_analyst(page)
    expect(page).to_have_url(f"{service.url}/dashboard/rules")
    expect(page.locator("#rules tbody")).to_contain_text("no rules yet")

    form = page.locator("#rule-form")
    form.locator('input[name="name"]').fill("far-away-electronics")
    form.locator('textarea[name="expression"]').fill('tx.merchant.startsWith("Far Away") &&')
    form.get_by_role("button", name="Validate").click()
    expect(page.locator("#rule-error")).to_contain_text("line 1, column")
    # Said once, under the expression (before the rule's other fields), not below the buttons.
    assert page.locator("#rule-error").inner_text().count("line 1, column") == 1
    error_box = page.locator("#rule-error").bounding_box()
    expression_box = form.locator('textarea[name="expression"]').bounding_box()
    reason_box = form.locator('input[name="reason"]').bounding_box()
    assert expression_box["y"] < error_box["y"] < reason_box["y"]
    form.locator('textarea[name="expression"]').fill(
        'tx.merchant.startsWith("Far Away") && tx.amount > 1000.0'
    )
    form.get_by_role("button", name="Validate").click()
    expect(page.locator("#expression-state")).to_have_text("valid: it compiles and may be used")
    expect(page.locator("#rule-error")).to_be_hidden()
    form.locator('select[name="action"]').select_option("decline")
    form.locator('input[name="reason"]').fill("electronics bought far from home")

    form.locator('input[name="days"]').fill("366")  # the purchases are dated months ago...
    form.get_by_role("button", name="Backtest").click()
    summary = page.locator("#backtest-summary")
    # ...but a backtest reads verdicts by when they were received: today.
    expect(summary).to_contain_text(f"50 verdicts · {len(far_away)} hits")
    today = page.locator("#backtest-days tbody tr").last
    expect(today.locator("td").nth(2)).to_have_text(str(len(far_away)))
    page.wait_for_function(
        "() => Chart.getChart('chart-backtest').data.datasets[0].data"
        f".reduce((a, b) => a + b, 0) === {len(far_away)}"
    )
    keep_screenshot(page, SCREENSHOTS / "rules.png")

    form.get_by_role("button", name="Add in shadow").click()
    expect(page).to_have_url(f"{service.url}/dashboard/rules/far-away-electronics")
    expect(page.locator("#rule-mode")).to_have_text("shadow")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("#rule-mode")).to_have_text("active")
    expect(page.locator("#history > li")).to_have_count(2)
    expect(page.locator("#history > li").first).to_contain_text("mode shadow active")
    keep_screenshot(page, SCREENSHOTS / "rule.png")

    stored = viewer.get(f"{service.url}/api/rules/far-away-electronics").json()
    assert stored["rule"]["mode"] == "active"
    assert [version["changed_by"] for version in stored["history"]] == [ANALYST, ANALYST]
