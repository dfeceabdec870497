"""Benchmark: the cost of asking for a fault on the hot path, for a tenant without faults,
against an empty function call (and, for scale, a tenant with one fault on another system).

Not a test. Run:  .venv/bin/python loadtests/bench_faults.py [--calls 100000]
Target (issue 4): a tenant without faults costs < 20 µs per call; in practice it costs a few
empty calls' worth, since it is two dict look-ups after the first call loads the cache.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.core.clock import Clock  # noqa: E402
from simulator.core.faults import Faults  # noqa: E402
from simulator.core.store import Store  # noqa: E402


def _per_call(fn, calls: int) -> float:
    """Best of three runs, seconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    """Print µs per call for the empty baseline and for decide()."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    faults = Faults(Store(":memory:"), Clock("manual"), seed=42, new_id=lambda: "f1")
    faults.create("busy", {"system": "erp", "operation": "*"})

    def empty(tenant: str, system: str, operation: str) -> None:
        return None

    rows = [
        ("empty function call", lambda: empty("quiet", "platform", "orders.get_order")),
        ("decide, tenant without faults",
         lambda: faults.decide("quiet", "platform", "orders.get_order")),
        ("decide, tenant with a fault on another system",
         lambda: faults.decide("busy", "platform", "orders.get_order")),
    ]
    base = None
    for name, fn in rows:
        fn()  # loads the cache
        cost = _per_call(fn, args.calls)
        base = base or cost
        print(f"{name:48s} {cost * 1e6:8.3f} µs/call  ({cost / base:5.1f}x empty)")
    verdict = _per_call(rows[1][1], args.calls) * 1e6
    print(f"target < 20 µs per call for a tenant without faults: "
          f"{'met' if verdict < 20 else 'MISSED'} ({verdict:.3f} µs)")


if __name__ == "__main__":
    main()
