"""Every page, as a viewer, an analyst and an admin, at 1024 and 1400 pixels wide, in Debian's
headless Chromium: no console error, nothing overflowing its box, no number, amount, id or
time broken across lines. Screenshots of each land in test-output/browser/ as artefacts.

Then what a page must survive or let an admin do: the dashboard without its chart library,
and keys and users made and revoked on /admin (with the page's CSRF token, audited).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from fraud.domain.identity import Role
from tests.e2e.chromium import ARTEFACTS, keep_screenshot, problems
from tests.processes import Service, add_account, start_service, stop_service

pytestmark = pytest.mark.e2e

WIDTHS = (1024, 1400)
PASSWORD = "a long browser password"
PEOPLE = {Role.VIEWER: "page-viewer", Role.ANALYST: "page-analyst", Role.ADMIN: "page-admin"}
SCREENSHOTS = ARTEFACTS / "browser"
# Long enough to break a table if anything could: the longest ids the contract allows.
LONG_TRANSACTION = "txn-" + "7" * 60
LONG_CARD = "card-" + "9" * 59
FLAGGED = "page-odd-3"


def transactions() -> list[dict]:
    """A few card holders with steady habits, odd purchases among them, and the longest ids,
    amounts and names the contract allows."""
    start = datetime.now(UTC) - timedelta(hours=3)
    sent = []
    for n in range(24):
        sent.append(
            {
                "transaction_id": f"page-{n:03d}",
                "user_id": f"page-user-{n % 4}",
                "amount": 20.0 + (n % 7) * 3.5,
                "merchant": f"Corner Shop {n % 4}",
                "timestamp": (start + timedelta(minutes=5 * n)).isoformat(),
                "merchant_type": "grocery",
                "device_type": "pos",
                "location_match": 1,
            }
        )
    for n in range(6):
        sent.append(
            {
                "transaction_id": f"page-odd-{n}",
                "user_id": f"page-user-{n % 4}",
                "amount": 4_800.0 + 1_000 * n,
                "merchant": "Far Away Electronics And Gadgets Superstore Of The North",
                "timestamp": (start + timedelta(minutes=130 + n)).isoformat(),
                "merchant_type": "gambling" if n % 2 else "online",
                "device_type": "smartwatch" if n % 2 else "desktop",
                "location_match": 0,
            }
        )
    sent.append(
        {
            "transaction_id": LONG_TRANSACTION,
            "user_id": LONG_CARD,
            "amount": 999_999_999.99,
            "merchant": "M" * 128,
            "timestamp": (start + timedelta(minutes=150)).isoformat(),
            "merchant_type": "online",
            "device_type": "mobile",
            "location_match": 0,
        }
    )
    sent.append({**sent[0], "transaction_id": "page-yen", "currency": "JPY", "amount": 125_000})
    return sent


@pytest.fixture(scope="module")
def service(tmp_path_factory, small_model) -> Iterator[Service]:
    """One service for the module: every page sees the same transactions, rule and label."""
    running = start_service(tmp_path_factory.mktemp("pages"), small_model)
    try:
        for role, name in PEOPLE.items():
            add_account(running.database_url, name, role, PASSWORD)
        sent = transactions()
        with running.client() as http:
            for transaction in sent:
                answer = http.post(f"{running.url}/transaction", json=transaction)
                assert answer.status_code == 202, answer.text
        viewer = running.client(Role.VIEWER)
        deadline = time.monotonic() + 60
        while viewer.get(f"{running.url}/api/dashboard").json()["counts"]["pending"]:
            assert time.monotonic() < deadline, "the transactions were not all scored"
            time.sleep(0.2)
        admin = running.client(Role.ADMIN)
        rule = {
            "name": "far-away-electronics",
            "expression": 'tx.merchant.startsWith("Far Away") && tx.amount > 1000.0',
            "action": "review",
            "reason": "electronics bought far from home",
            "mode": "active",
        }
        assert admin.post(f"{running.url}/api/rules", json=rule).status_code == 201
        labelled = admin.post(f"{running.url}/transaction/{FLAGGED}/label", json={"is_fraud": True})
        assert labelled.status_code == 200
        yield running
    finally:
        stop_service(running)


def signed_in(browser: Browser, service: Service, role: Role, width: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{service.url}/signin")
    page.fill('input[name="name"]', PEOPLE[role])
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="sign in").click()
    expect(page.locator("header .who")).to_contain_text(PEOPLE[role])
    return page


def errors_of(page: Page) -> list[str]:
    """Collects what the page logs as an error or raises, from now on."""
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(f"uncaught: {error}"))

    def logged(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(f"console: {message.text}")

    page.on("console", logged)
    return found


def dashboard_drawn(page: Page) -> None:
    """Every panel the dashboard polls for has arrived."""
    expect(page.locator("#recent tbody tr[data-transaction-id]").first).to_be_visible()
    expect(page.locator("#model-panel dd.id")).to_be_visible()
    expect(page.locator("#models-panel tbody tr").first).to_contain_text("champion")
    expect(page.locator("#drift-state")).not_to_be_empty()
    expect(page.locator("#pipeline-state")).not_to_be_empty()
    page.wait_for_function("() => Chart.getChart('chart-decisions').data.labels.length > 0")


def pages_for(role: Role, service: Service) -> dict[str, tuple[str, object]]:
    """Each page a role may open, and what shows it is drawn."""
    shown = {
        "dashboard": ("/", dashboard_drawn),
        "transaction": (
            f"/dashboard/transactions/{FLAGGED}",
            lambda page: expect(page.locator("#timeline")).to_contain_text("recorded"),
        ),
        "long-ids": (
            f"/dashboard/transactions/{LONG_TRANSACTION}",
            lambda page: expect(page.locator("#fraud-score")).to_be_visible(),
        ),
        "card": (
            "/dashboard/cards/page-user-3",
            lambda page: expect(page.locator("#card-transactions tbody tr").first).to_be_visible(),
        ),
        "long-card": (
            f"/dashboard/cards/{LONG_CARD}",
            lambda page: expect(page.locator("#card-transactions tbody tr")).to_have_count(1),
        ),
        "rules": ("/dashboard/rules", lambda page: expect(page.locator("#rules")).to_be_visible()),
        "rule": (
            "/dashboard/rules/far-away-electronics",
            lambda page: expect(page.locator("#rule-mode")).to_have_text("active"),
        ),
        # Swagger UI draws every operation in the browser: seconds on a busy machine.
        "docs": (
            "/docs",
            lambda page: expect(page.locator(".opblock").first).to_be_visible(timeout=20_000),
        ),
    }
    if role is Role.ADMIN:
        shown["admin"] = ("/admin", lambda page: expect(page.locator("#audit")).to_be_visible())
    return shown


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", list(PEOPLE), ids=lambda role: role.value)
def test_every_page_reads_well_at_both_widths_for_every_role(
    browser: Browser, service: Service, role: Role, width: int
) -> None:
    page = signed_in(browser, service, role, width)
    errors = errors_of(page)
    found: dict[str, dict[str, list[str]]] = {}
    folder = SCREENSHOTS / role.value / str(width)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (path, drawn) in pages_for(role, service).items():
        page.goto(f"{service.url}{path}")
        drawn(page)  # type: ignore[operator]
        # Swagger UI's whole page is its 64 operations folded: the first screen shows it drawn.
        keep_screenshot(page, folder / f"{name}.png", whole=name != "docs")
        wrong = {kind: items for kind, items in problems(page).items() if items}
        if wrong:
            found[name] = wrong
    if role is not Role.ADMIN:
        page.goto(f"{service.url}/")
        expect(page.locator("header nav a")).not_to_contain_text(["admin"])
    page.context.close()
    assert found == {}, f"pages drawn badly at {width} px as {role.value}: {found}"
    assert errors == []


def test_the_dashboard_keeps_its_counters_tables_and_panels_without_its_chart_library(
    browser: Browser, service: Service
) -> None:
    page = signed_in(browser, service, Role.VIEWER, 1400)
    errors = errors_of(page)
    page.route("**/vendor/chart.umd.min.js", lambda route: route.abort())
    page.goto(f"{service.url}/")
    total = len(transactions())
    expect(page.locator('[data-count="total"]')).to_have_text(str(total))
    expect(page.locator("#recent tbody tr[data-transaction-id]")).to_have_count(20)
    expect(page.locator("#flagged tbody tr[data-transaction-id]").first).to_be_visible()
    expect(page.locator("#model-panel dd.id")).to_be_visible()
    expect(page.locator("#models-panel tbody tr").first).to_contain_text("champion")
    expect(page.locator("#pipeline-state")).to_have_text("running")
    expect(page.locator('[data-live="throughput"]')).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(page.locator('[data-empty-for="chart-decisions"]')).to_have_text(
        "charts unavailable: the chart library did not load"
    )
    keep_screenshot(page, SCREENSHOTS / "dashboard-without-charts.png")
    page.context.close()
    # The blocked script is the only thing that went wrong: nothing the page ran failed.
    assert [error for error in errors if "net::ERR_FAILED" not in error] == []


def test_an_admin_creates_and_revokes_a_key_and_a_user_on_the_admin_page(
    browser: Browser, service: Service
) -> None:
    page = signed_in(browser, service, Role.ADMIN, 1400)
    errors = errors_of(page)
    page.goto(f"{service.url}/admin")
    page.on("dialog", lambda dialog: dialog.accept())

    keys = page.locator("#key-form")
    keys.locator('input[name="name"]').fill("browser-gateway")
    keys.locator('select[name="role"]').select_option("submitter")
    keys.locator('input[name="rate_limit"]').fill("600/second")
    keys.get_by_role("button", name="Create key").click()
    secret = page.locator("#key-secret code")
    expect(secret).to_have_text(re.compile(r"^fraud_\S{40,}$"))
    issued = secret.inner_text()
    # The key works at once, for what its role allows.
    with service.client() as http:
        http.headers["Authorization"] = f"Bearer {issued}"
        assert http.get(f"{service.url}/transaction/{FLAGGED}").status_code == 404  # not its own
        assert http.get(f"{service.url}/api/dashboard").status_code == 403
    page.get_by_role("button", name="I have kept it").click()
    row = page.locator('#keys tr[data-name="browser-gateway"]')
    expect(row).to_contain_text("600/second")

    # A name taken is refused with the API's words, on the page.
    keys.locator('input[name="name"]').fill("browser-gateway")
    keys.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-error")).to_contain_text("Not created")

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator('#keys tr[data-name="browser-gateway"]')).to_have_class(
        re.compile("revoked")
    )
    with service.client() as http:
        http.headers["Authorization"] = f"Bearer {issued}"
        deadline = time.monotonic() + 5
        while http.get(f"{service.url}/api/dashboard").status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.2)

    users = page.locator("#user-form")
    users.locator('input[name="name"]').fill("browser-analyst")
    users.locator('select[name="role"]').select_option("analyst")
    users.get_by_role("button", name="Add user").click()
    password = page.locator("#user-secret code")
    expect(password).not_to_be_empty()
    page.get_by_role("button", name="I have kept it").click()
    user_row = page.locator('#users tr[data-name="browser-analyst"]')
    expect(user_row).to_contain_text("analyst")
    user_row.get_by_role("button", name="Revoke").click()
    expect(page.locator('#users tr[data-name="browser-analyst"]')).to_have_class(
        re.compile("revoked")
    )

    # Each change is audited as the signed-in admin, from the browser's address.
    audit = page.locator("#audit tbody")
    for action, target in (
        ("key.created", "key:browser-gateway"),
        ("key.revoked", "key:browser-gateway"),
        ("user.created", "browser-analyst"),
        ("user.revoked", "browser-analyst"),
    ):
        line = audit.locator("tr", has_text=action).filter(has_text=target).first
        expect(line).to_contain_text(PEOPLE[Role.ADMIN])
        expect(line).to_contain_text("127.0.0.1")
    keep_screenshot(page, SCREENSHOTS / "admin-after-changes.png")
    page.context.close()
    # The one refusal asked for (the name taken): the browser logs every answer over 399.
    assert [error for error in errors if "status of 409" not in error] == []


def test_the_model_panel_shows_what_the_champion_catches_at_its_review_budget(
    browser: Browser, service: Service
) -> None:
    """As `fraud evaluate` counts it: the top N scores a day reviewed, the share of them that
    were fraud, and the frauds' money caught and missed, from the champion's card."""
    viewer = service.client(Role.VIEWER)
    registry = viewer.get(f"{service.url}/api/models").json()["models"]
    champion = next(entry["model"] for entry in registry if entry["role"] == "champion")
    card = viewer.get(f"{service.url}/api/model").json()["model"]
    assert card["version"] == champion["version"]
    metrics = card["metrics"]
    caught, missed = metrics["fraud_money_caught"], metrics["fraud_money_missed"]
    assert sum(caught.values()) > 0, "the small model catches some fraud at 100 reviews a day"
    page = signed_in(browser, service, Role.VIEWER, 1400)
    page.goto(f"{service.url}/")
    panel = page.locator("#model-panel")
    budget = f"at {int(metrics['review_budget_per_day']):,} reviews/day"
    expect(panel.locator(f"dt:text-is('{budget}') + dd")).to_have_text(
        f"precision {fixed(metrics['precision_at_budget'])}, "
        f"recall {fixed(metrics['recall_at_budget'])}"
    )
    expect(panel.locator("dt:text-is('fraud money caught') + dd")).to_have_text(money(caught))
    expect(panel.locator("dt:text-is('fraud money missed') + dd")).to_have_text(money(missed))
    page.context.close()


def fixed(share: float) -> str:
    """As JavaScript's toFixed(3) writes it: a tie rounds up."""
    return str(Decimal(share).quantize(Decimal("0.001"), ROUND_HALF_UP))


def money(amounts: dict[str, float]) -> str:
    """As the panel writes sums per currency, to the unit: "USD 1,235 + EUR 80", or 0."""
    whole = {
        currency: Decimal(sum_).quantize(Decimal(1), ROUND_HALF_UP)
        for currency, sum_ in amounts.items()
    }
    return " + ".join(f"{currency} {int(sum_):,}" for currency, sum_ in whole.items()) or "0"
