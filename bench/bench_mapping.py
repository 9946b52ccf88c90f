"""Records mapped per second by the shipped mappings (compile once, apply many).

    python -m bench.bench_mapping [--seconds 1.0] [--mapping order_to_sales_order]
    python -m bench.bench_mapping --records 1000 --lines 10

Prints one line per line-item count, e.g. `mapping: lines=10 records_per_s=...
cpu_us_per_record=...` (CPU time: steadier than the rate on a shared machine).
`--records N` maps N records once instead of for a time, for instruction counts:
run it under `valgrind --tool=callgrind` with N and with 0 and divide the difference.
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


def records_per_second(
    mapping: Mapping, record: dict[str, Any], seconds: float
) -> tuple[float, float]:
    """Records per second (wall clock) and CPU microseconds per record."""
    mapping.apply(record)  # warm up; fails loudly if the record does not map
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(50):
            mapping.apply(record)
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), (time.process_time() - cpu) / count * 1e6


def map_once(mapping: Mapping, record: dict[str, Any], records: int) -> float:
    """Map ``records`` records once; CPU microseconds per record."""
    mapping.apply(record)
    cpu = time.process_time()
    for _ in range(records):
        mapping.apply(record)
    return (time.process_time() - cpu) / max(records, 1) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--mapping", default="order_to_sales_order", help="a shipped Order mapping")
    parser.add_argument("--lines", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--records", type=int, help="map this many records once (callgrind)")
    args = parser.parse_args(argv)
    mapping = load_mapping(MAPPINGS / f"{args.mapping}.yaml")
    for lines in args.lines:
        if args.records is not None:
            cpu_us = map_once(mapping, order(lines), args.records)
            print(
                f"mapping: name={mapping.name} lines={lines} records={args.records} "
                f"cpu_us_per_record={cpu_us:.1f}"
            )
            continue
        rate, cpu_us = records_per_second(mapping, order(lines), args.seconds)
        print(
            f"mapping: name={mapping.name} lines={lines} records_per_s={rate:,.0f} "
            f"cpu_us_per_record={cpu_us:.1f}"
        )


if __name__ == "__main__":
    main()
