"""What one late arrival costs: a transaction older than its user's latest rebuilds that
user's windows, over at most ``MAX_EVENTS_PER_USER`` events however busy the card is.

    python benchmarks/late_arrival.py --events 1000 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from fraud.domain.features import BehaviourProfiles
from fraud.domain.transaction import Transaction

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def transaction(number: int, minutes: float) -> Transaction:
    return Transaction(
        transaction_id=f"t{number}",
        user_id="busy-card",
        amount=12.5,
        merchant=f"m{number % 40}",
        timestamp=T0 + timedelta(minutes=minutes),
        merchant_type="online",
        device_type="pos",
        location_match=True,
    )


def late_arrival_ms(events: int, repeats: int = 21) -> list[float]:
    """One user with ``events`` purchases two minutes apart, then late ones, timed one by one."""
    profiles = BehaviourProfiles()
    profiles.observe([transaction(i, 2 * i) for i in range(events)])
    timings = []
    for k in range(repeats):
        late = transaction(10**7 + k, 2 * events - 30 - k)  # an hour before the latest
        started = time.perf_counter()
        profiles.observe([late])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000, 20_000])
    args = parser.parse_args()
    report = {}
    for events in args.events:
        timings = late_arrival_ms(events)
        report[events] = {
            "median_ms": round(statistics.median(timings), 2),
            "max_ms": round(max(timings), 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
