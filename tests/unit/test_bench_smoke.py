"""The routing benchmark runs (smoke size) and its simulation agrees with Erlang C roughly."""

from __future__ import annotations

from bench.routing_sim import run_routing_bench


def test_routing_bench_smoke() -> None:
    result = run_routing_bench(smoke=True)
    ((_case, sim, (sl, _asa, occ), _fifo_sl),) = result["cases"]  # type: ignore[misc]
    assert abs(sim.service_level - sl) < 0.1
    assert abs(sim.occupancy - occ) < 0.1
    _case, prio, fifo = result["tiers"]  # type: ignore[misc]
    vip_prio = sum(prio.waits_by_tier["vip"]) / len(prio.waits_by_tier["vip"])
    vip_fifo = sum(fifo.waits_by_tier["vip"]) / len(fifo.waits_by_tier["vip"])
    assert vip_prio < vip_fifo
