"""The routing benchmark runs at smoke size, and its simulation roughly agrees with Erlang C."""

from __future__ import annotations

import time

from bench.routing_sim import run_routing_bench


def test_routing_bench_smoke() -> None:
    started = time.perf_counter()
    result = run_routing_bench(smoke=True)
    assert time.perf_counter() - started < 5
    ((_case, sim, (sl, _asa, occ), _fifo_sl),) = result["cases"]
    assert abs(sim.service_level - sl) < 0.1
    assert abs(sim.occupancy - occ) < 0.1
    _case, prio, fifo = result["tiers"]
    vip_prio = sum(prio.waits_by_tier["vip"]) / len(prio.waits_by_tier["vip"])
    vip_fifo = sum(fifo.waits_by_tier["vip"]) / len(fifo.waits_by_tier["vip"])
    assert vip_prio < vip_fifo
    (row,) = result["throughput"]
    assert row.decisions > 0 and row.per_s > 0 and row.naive_per_s > 0
