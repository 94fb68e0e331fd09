"""`python -m bench [--smoke]`: the benchmark suite, one summary table. Every figure is compared
with a baseline measured in the same run on the same machine (docs/performance.md).

B1 inbound SMS to agent (vs hello-world and signature-only handlers), B1's cycle cost one
message at a time (hub CPU and SQL statements per message: the steady figure), B2 web-chat
fan-out (vs a raw python-socketio relay), B3 routing decisions (vs heapq), B4 two processes vs
one (PostgreSQL + Redis), B5 outbox drain (vs raw send loops).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import statistics
import sys
import time

from bench.routing_sim import NOW, bench_snapshot
from hub import gc_tuning
from routing.engine import decide

Row = tuple[str, str, str]


def routing_rows(smoke: bool) -> list[Row]:
    """B3: one decide() over `waiting` x `agents` against pushing and popping the same number of
    items through heapq (the floor for any priority queue in Python)."""
    waiting, agents, runs = (500, 50, 3) if smoke else (10_000, 500, 9)
    snapshot = bench_snapshot(waiting, agents)
    engine, heap = [], []
    rng = random.Random(5)
    keys = [rng.random() for _ in range(waiting)]
    for _ in range(runs):
        started = time.perf_counter()
        made = len(decide(snapshot, NOW))
        engine.append(time.perf_counter() - started)
        started = time.perf_counter()
        h: list[float] = []
        for k in keys:
            heapq.heappush(h, k)
        for _ in range(min(made, waiting)):
            heapq.heappop(h)
        heap.append(time.perf_counter() - started)
    ms, base = statistics.median(engine) * 1e3, statistics.median(heap) * 1e3
    return [
        (
            f"B3 decide() {waiting} waiting x {agents} agents",
            f"{ms:.1f} ms ({made} offers)",
            f"{ms / base:.1f} x heapq push/pop ({base:.2f} ms)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument(
        "--only", choices=["b1", "cycle", "b2", "b3", "b4", "b5"], help="one benchmark"
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the database of B1, the cycle cost and B2: embedded SQLite or the local PostgreSQL",
    )
    args = parser.parse_args(argv)
    # The load generator holds thousands of Socket.IO clients: with the default thresholds its
    # own full collections (~0.2 s) delayed sends and receipts and counted as the server's
    # latency (B2's raw baseline p99 6.4 -> 1.9 ms with it tuned).
    gc_tuning.tune()
    rows: list[Row] = []
    if args.only in (None, "b3"):
        rows += routing_rows(args.smoke)
    if args.only in (None, "b1"):
        from bench.inbound import run

        rows += asyncio.run(run(smoke=args.smoke, db=args.db))
    if args.only in (None, "cycle"):
        from bench.cycle_cost import run as cycle_cost

        rows += asyncio.run(cycle_cost(smoke=args.smoke, db=args.db))
    if args.only in (None, "b2"):
        from bench.fanout import run as fanout

        rows += asyncio.run(fanout(smoke=args.smoke, db=args.db))
    if args.only in (None, "b4"):
        from bench.scale_out import run as scale_out

        rows += asyncio.run(scale_out(smoke=args.smoke))
    if args.only in (None, "b5"):
        from bench.outbox_drain import run as drain

        rows += asyncio.run(drain(smoke=args.smoke))
    width = max(len(r[0]) for r in rows)
    mid = max(len(r[1]) for r in rows)
    print(f"{'benchmark':<{width}}  {'measured':<{mid}}  against the same-run baseline")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:<{mid}}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
