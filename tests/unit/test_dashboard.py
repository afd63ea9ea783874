"""The dashboard's pages and the JSON they poll, on the in-memory container."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from markupsafe import escape

from fraud.domain.identity import Role
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.transaction import format_instant
from fraud.entrypoints.http.app import create_app
from fraud.entrypoints.http.timeline import elapsed
from tests.factories import payload
from tests.unit.conftest import calling_as, issue_keys, settle

STATIC = Path(__file__).parents[2] / "src/fraud/entrypoints/http/static"


def submit_some(client, container, count: int = 4) -> list[str]:
    ids = [f"t{i}" for i in range(count)]
    for i, transaction_id in enumerate(ids):
        amount = 9_000.0 if i == 0 else 20.0 + i  # the rule model flags a big amount
        client.post("/transaction", json=payload(transaction_id=transaction_id, amount=amount))
    settle(container)
    return ids


def test_the_dashboard_page_draws_its_charts_with_the_local_chart_library(viewer) -> None:
    html = viewer.get("/").get_data(as_text=True)
    for chart in ("throughput", "decisions", "fraud-rate", "latency", "scores"):
        assert f'id="chart-{chart}"' in html
    assert "/static/vendor/chart.umd.min.js" in html
    assert "http://" not in html and "https://" not in html  # nothing from the internet
    assert viewer.get("/static/vendor/chart.umd.min.js").status_code == 200


def test_activity_counts_what_was_scored_in_the_last_minutes(
    client, viewer, container, clock
) -> None:
    submit_some(client, container)
    clock.advance(4)  # the buckets holding the verdicts are complete
    activity = viewer.get("/api/activity").get_json()
    assert activity["bucket_seconds"] == 2
    assert len(activity["points"]) == activity["span_seconds"] // 2
    totals = activity["totals"]
    assert sum(totals["decisions"].values()) == 4
    assert totals["flagged_rate"] == 0.25
    assert totals["latency_ms"]["p50"] is not None
    assert sum(activity["scores"]["counts"]) == 4
    assert activity["scores"]["upper_bounds"][-1] == 1.0
    assert sum(sum(p["decisions"].values()) for p in activity["points"]) == 4


def test_the_model_panel_shows_the_card_of_the_model_on_disk(viewer, container) -> None:
    assert viewer.get("/api/model").get_json() == {"model": None}
    card = ModelInfo(
        version="v7",
        thresholds=Thresholds(review=0.02, decline=0.3),
        trained_at="2026-01-01T00:00:00+00:00",
        metrics={"average_precision": 0.9},
        training_rows=15000,
    )
    with container.model_card.override(card):
        model = viewer.get("/api/model").get_json()["model"]
    assert model["version"] == "v7"
    assert model["thresholds"] == {"review": 0.02, "decline": 0.3}
    assert model["metrics"]["average_precision"] == 0.9
    assert model["training_rows"] == 15000


def test_the_model_panel_shows_the_model_the_score_stage_is_using(
    embedded, model, tmp_path
) -> None:
    """A card retrained on disk meanwhile is not the model in use until it is loaded."""
    (tmp_path / "model.json").write_text(
        '{"version": "retrained-on-disk", "thresholds": {"review": 0.1, "decline": 0.5}, '
        '"trained_at": "2026-01-01T00:00:00+00:00"}'
    )
    embedded.config.model_dir.from_value(str(tmp_path))
    app = create_app(embedded)
    keys = issue_keys(embedded)
    client, viewer = calling_as(app, keys[Role.SUBMITTER]), calling_as(app, keys[Role.VIEWER])
    pipeline = embedded.pipeline()
    pipeline.start()
    try:
        assert client.post("/transaction", json=payload(transaction_id="by")).status_code == 202
        assert pipeline.drain(timeout=10)
    finally:
        pipeline.stop()

    shown = viewer.get("/api/model").get_json()["model"]
    assert shown["version"] == model.info.version == "rule-model-1"
    assert client.get("/transaction/by").get_json()["model_version"] == shown["version"]


def test_pipeline_health_shows_lag_per_stage_and_dead_letters(client, viewer) -> None:
    client.post("/transaction", json=payload())
    health = viewer.get("/api/pipeline").get_json()
    assert health["running"] is None  # no stages run inside this app
    lag = {stage["stage"]: stage["lag"] for stage in health["stages"]}
    assert lag["preprocess"] == {"transactions": 1}
    # No worker has read the later topics in a group yet: their stages have no lag to show.
    assert "record" not in lag and "score" not in lag
    assert health["dead_letters"] == 0


def test_a_transaction_page_shows_verdict_reasons_timeline_and_label_buttons(
    client, analyst, container
) -> None:
    flagged, *_ = submit_some(client, container)
    page = analyst.get(f"/dashboard/transactions/{flagged}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    verdict = analyst.get(f"/transaction/{flagged}").get_json()
    assert verdict["decision"] in html
    assert verdict["reasons"]
    assert all(str(escape(reason)) in html for reason in verdict["reasons"])
    steps = [
        "received by the API",
        "preprocessed: behaviour features",
        "scored: model and policy",
        "recorded: verdict stored",
    ]
    positions = [html.index(step) for step in steps]
    assert positions == sorted(positions)  # in the order the stages ran
    assert verdict["preprocessed_at"] <= verdict["scored_at"] <= verdict["recorded_at"]
    assert 'data-label="true"' in html and 'data-label="false"' in html
    assert "not labelled yet" in html

    analyst.post(f"/transaction/{flagged}/label", json={"is_fraud": True})
    html = analyst.get(f"/dashboard/transactions/{flagged}").get_data(as_text=True)
    assert "confirmed fraud by key:analyst" in html
    assert "labelled by key:analyst" in html  # on the timeline too


def test_a_transaction_page_words_its_features_and_times_and_links_the_cards_others(
    client, viewer, container
) -> None:
    flagged, *_ = submit_some(client, container)
    verdict = viewer.get(f"/transaction/{flagged}").get_json()
    html = viewer.get(f"/dashboard/transactions/{flagged}").get_data(as_text=True)
    features = html[html.index("Behaviour features") :]
    # Codes, flags and spans in words and units, never 7.776e+06 or a bare code.
    assert '<td class="num">90 d</td>' in features  # seconds_since_card_fraud: none known
    assert "e+0" not in features
    merchant_type = verdict["transaction"]["merchant_type"]
    assert f'<th>merchant_type</th><td class="num">{merchant_type}</td>' in features
    assert str(escape("the merchant's confirmed fraud share, the 7 days before")) in features
    # Amounts grouped with their currency; times as <time> to the second (the page's script
    # puts them in the viewer's zone), never raw ISO with microseconds.
    assert "9,000.00 USD" in html
    received = verdict["received_at"]
    assert f'<time datetime="{received}">' in html
    assert f"{received[:10]} {received[11:19]} UTC</time>" in html
    assert f">{received}<" not in html
    user = verdict["transaction"]["user_id"]
    assert f'href="/dashboard/cards/{user}"' in html


def test_a_cards_page_lists_its_transactions_newest_first(client, viewer, container) -> None:
    client.post("/transaction", json=payload(transaction_id="other", user_id="someone-else"))
    ids = submit_some(client, container)
    user = viewer.get(f"/transaction/{ids[0]}").get_json()["transaction"]["user_id"]
    page = viewer.get(f"/dashboard/cards/{user}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    listed = [html.index(f'data-transaction-id="{tid}"') for tid in reversed(ids)]
    assert listed == sorted(listed)  # newest received first
    assert 'data-transaction-id="other"' not in html
    assert "no transactions of this card" in viewer.get("/dashboard/cards/nobody").get_data(
        as_text=True
    )


def test_a_viewer_sees_the_transaction_page_without_label_buttons(
    client, viewer, container
) -> None:
    flagged, *_ = submit_some(client, container)
    html = viewer.get(f"/dashboard/transactions/{flagged}").get_data(as_text=True)
    assert "not labelled yet" in html
    assert 'data-label="true"' not in html
    assert 'data-may-label="false"' in html


def test_an_unknown_transaction_page_is_a_404_page(viewer) -> None:
    page = viewer.get("/dashboard/transactions/nope")
    assert page.status_code == 404
    assert "No transaction with id" in page.get_data(as_text=True)


def test_confirmed_precision_counts_the_analysts_labels(client, analyst, container) -> None:
    flagged, *_ = submit_some(client, container)
    analyst.post(f"/transaction/{flagged}/label", json={"is_fraud": False})
    precision = analyst.get("/api/dashboard").get_json()["label_precision"]
    flagged_decision = analyst.get(f"/transaction/{flagged}").get_json()["decision"]
    assert precision[flagged_decision]["cleared"] == 1


def test_every_script_the_pages_load_is_served() -> None:
    for name in ("common.js", "dashboard.js", "transaction.js", "dashboard.css"):
        assert (STATIC / name).is_file()


def test_a_bad_limit_is_refused_naming_the_parameter(viewer) -> None:
    for bad in ("abc", "0", "101", "-1", "²", "1e3", "2.0", "٣", "", " 5", "99999999999999999999"):
        response = viewer.get(f"/api/dashboard?limit={bad}")
        assert response.status_code == 422
        assert response.get_json()["details"] == [
            {"field": "limit", "rule": "must be an integer from 1 to 100"}
        ]
    assert viewer.get("/api/dashboard?limit=100").status_code == 200


def test_timeline_delays_read_in_units_a_person_would_use() -> None:
    assert elapsed(0.0031) == "+3.1 ms"
    assert elapsed(0.9994) == "+999.4 ms"
    assert elapsed(9.5) == "+9.5 s"
    assert elapsed(12.0) == "+12.0 s"
    assert elapsed(90) == "+1.5 min"
    assert elapsed(7200) == "+2.0 h"
    assert elapsed(172_800) == "+2.0 d"


def test_the_label_loop_shows_labels_per_day_their_delay_and_the_riskiest_merchants(
    client, analyst, viewer, container, clock
) -> None:
    bought = clock.current - timedelta(hours=30)
    for i in range(6):
        body = payload(
            transaction_id=f"b{i}",
            merchant="Skimmed Shop" if i < 4 else "Honest Shop",
            timestamp=format_instant(bought + timedelta(minutes=i)),
        )
        assert client.post("/transaction", json=body).status_code == 202
    settle(container)
    for transaction_id, fraud in (("b0", True), ("b1", True), ("b4", False)):
        analyst.post(f"/transaction/{transaction_id}/label", json={"is_fraud": fraud})

    loop = viewer.get("/api/labels").get_json()

    assert len(loop["days"]) == 30
    assert loop["days"][-1] == {"day": "2025-01-01", "fraud": 2, "legitimate": 1}
    assert loop["delay_bounds_hours"] == [1, 6, 24, 72, 168, 720]
    assert loop["delays"] == [0, 0, 0, 3, 0, 0, 0]  # 30 hours after the purchase
    assert loop["merchants"] == [
        {"merchant": "Skimmed Shop", "transactions": 4, "frauds": 2, "share": 0.5}
    ]
    html = viewer.get("/").get_data(as_text=True)
    assert 'id="chart-labels"' in html and 'id="chart-label-delay"' in html
