"""Summarise a sampling profile of a worker, collapsed stacks (``py-spy record --format raw``).

Each sample is charged to the first component found walking its stack from the leaf up, so
the shares add up to 100%. Record one worker while ``fraud bench`` runs, for example:

    py-spy record --idle --format raw -r 200 -d 15 -p "$(pgrep -f 'worker --stage' | head -1)" \\
        -o worker.txt
    .venv/bin/python benchmarks/flame_summary.py worker.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# Walking a stack from its leaf up, the first frame a pattern matches names the component.
COMPONENTS: list[tuple[str, str]] = [
    ("idle thread (Condition.wait, sleep)", r"^(Condition\.wait|Event\.wait|sleep) "),
    ("consumer poll (in C: waiting, or fetching)", r"^KafkaMessageConsumer\.poll_batch "),
    ("broker acknowledgements (flush)", r"^\w+\.flush "),
    ("kafka client (produce, commit, to_domain)", r"confluent_kafka|fraud/adapters/kafka"),
    ("sqlite driver (execute, commit)", r"^DefaultDialect\.do_(execute|commit)"),
    ("sqlalchemy (statements, rows)", r"sqlalchemy|fraud/adapters/sqlalchemy"),
    ("tensorflow (model call)", r"tensorflow|keras"),
    ("json (orjson, json)", r"orjson|json/|serialization/json"),
    ("validating a transaction", r"^Transaction\.parse |^_\w+ \(fraud/domain/transaction"),
    ("envelopes (reading, writing)", r"fraud/application/stream/envelopes|format_instant"),
    ("features (behaviour state)", r"fraud/domain/(features|windows|label_risk|behaviour)"),
    ("logging (structlog)", r"structlog|logging/"),
    ("the rest of the stages", r"fraud/"),
]


def component(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, pattern in COMPONENTS:
            if re.search(pattern, frame.strip()):
                return name
    return "other (interpreter, idle threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for path in args.profile:
        by_component: Counter[str] = Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            by_component[component(stack)] += int(count)
            total += int(count)
        print(f"{path}: {total} samples")
        for name, count in by_component.most_common(args.top):
            print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
