"""Records mapped per second by the shipped mappings (compile once, apply many).

    python -m bench.bench_mapping [--seconds 1.0] [--mapping order_to_sales_order]

Prints one line per line-item count, e.g. `mapping: lines=10 records_per_s=...`.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

from revflow.mapping import Mapping, load_mapping

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
FIXTURE = MAPPINGS / "tests" / "fixtures" / "order.json"


def order(lines: int) -> dict[str, Any]:
    """The golden fixture order with `lines` line items."""
    base = json.loads(FIXTURE.read_text())
    items = base["OrderItems"]
    base["OrderItems"] = [
        {**copy.deepcopy(items[i % len(items)]), "Id": f"8025e{i:07d}"} for i in range(lines)
    ]
    return base


def records_per_second(mapping: Mapping, record: dict[str, Any], seconds: float) -> float:
    mapping.apply(record)  # warm up; fails loudly if the record does not map
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            mapping.apply(record)
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--mapping", default="order_to_sales_order", help="a shipped Order mapping")
    parser.add_argument("--lines", type=int, nargs="*", default=[10, 100])
    args = parser.parse_args(argv)
    mapping = load_mapping(MAPPINGS / f"{args.mapping}.yaml")
    for lines in args.lines:
        rate = records_per_second(mapping, order(lines), args.seconds)
        print(f"mapping: name={mapping.name} lines={lines} records_per_s={rate:,.0f}")


if __name__ == "__main__":
    main()
