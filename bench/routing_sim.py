"""Routing benchmark: decide() throughput vs a naive FIFO loop, and the real engine on a simulated
clock: service level vs routing.erlang, tier waits under value-first vs FIFO routing.

    python -m bench.routing_sim            # full run (100k+ contacts per case)
    python -m bench.routing_sim --smoke    # seconds, used by the test suite
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

from routing.engine import decide
from routing.erlang import average_speed_of_answer, occupancy, service_level
from routing.types import AgentView, InteractionView, QueueView, RoutingConfig, RoutingSnapshot

NOW = 1_800_000_000.0
QUEUE = "support"
TIER_MIX = (("vip", 0.05), ("enterprise", 0.15), ("household", 0.30), ("standard", 0.50))


@dataclass(frozen=True)
class Case:
    name: str
    calls: int  # per interval
    interval_min: float
    aht_min: float
    agents: int
    target_s: float


CASES = (
    Case("100 calls/30 min, AHT 3 min, 14 agents", 100, 30, 3, 14, 20),
    Case("100 calls/30 min, AHT 3 min, 12 agents", 100, 30, 3, 12, 20),
    Case("300 calls/60 min, AHT 4 min, 24 agents", 300, 60, 4, 24, 30),
    Case("1000 calls/60 min, AHT 5 min, 90 agents", 1000, 60, 5, 90, 15),
)


@dataclass
class SimResult:
    service_level: float
    asa_s: float
    occupancy: float
    waits_by_tier: dict[str, list[float]]


def _arrivals(rate: float, contacts: int, rng: random.Random) -> list[tuple[float, int, str, str]]:
    """Poisson arrivals as a heap of (time, seq, kind, id) events."""
    events, t = [], 0.0
    for n in range(contacts):
        t += rng.expovariate(rate)
        events.append((t, n, "arrive", f"c{n}"))
    heapq.heapify(events)
    return events


def _free_agents(free_at_idle: dict[str, float]) -> tuple[AgentView, ...]:
    return tuple(
        AgentView(
            id=a, available=True, queues=frozenset({QUEUE}), capacity={"voice": 1}, idle_since=idle
        )
        for a, idle in free_at_idle.items()
    )


def _config(fifo: bool) -> RoutingConfig:
    config = RoutingConfig()
    if not fifo:
        return config
    # only waiting time counts: first come, first served
    weights = replace(config.weights, tier={}, value_per_1000=0, sla_max=0, channel={})
    return replace(config, weights=weights)


def simulate(case: Case, contacts: int, *, fifo: bool = False, seed: int = 7) -> SimResult:
    """Event-driven: arrivals and completions; after each event the engine decides."""
    rng = random.Random(seed)
    aht = case.aht_min * 60
    queues = {QUEUE: QueueView(id=QUEUE, answer_target_s=case.target_s)}
    config = _config(fifo)
    free_at_idle = {f"a{n}": 0.0 for n in range(case.agents)}  # free agent -> idle since
    events = _arrivals(case.calls / (case.interval_min * 60), contacts, rng)
    seq = contacts
    tiers, shares = [t for t, _ in TIER_MIX], [w for _, w in TIER_MIX]
    waiting: dict[str, InteractionView] = {}
    waits: dict[str, list[float]] = {tier: [] for tier in tiers}
    busy_time = end = 0.0
    while events:
        now, _, kind, ident = heapq.heappop(events)
        end = now
        if kind == "arrive":
            tier = rng.choices(tiers, shares)[0]
            waiting[ident] = InteractionView(ident, QUEUE, "voice", enqueued_at=now, tier=tier)
        else:
            free_at_idle[ident] = now
        if not waiting or not free_at_idle:
            continue
        snapshot = RoutingSnapshot(
            tuple(waiting.values()), _free_agents(free_at_idle), queues, config
        )
        for d in decide(snapshot, now):
            it = waiting.pop(d.interaction_id)
            del free_at_idle[d.agent_id]
            waits[it.tier].append(now - it.enqueued_at)
            handle = rng.expovariate(1 / aht)
            busy_time += handle
            heapq.heappush(events, (now + handle, seq, "done", d.agent_id))
            seq += 1
    every = [w for ws in waits.values() for w in ws]
    in_target = sum(w <= case.target_s for w in every)
    return SimResult(
        in_target / len(every), statistics.fmean(every), busy_time / (case.agents * end), waits
    )


def erlang_reference(case: Case) -> tuple[float, float, float]:
    """What routing.erlang predicts for the case: service level, ASA and occupancy."""
    rate = case.calls / (case.interval_min * 60)
    aht = case.aht_min * 60
    return (
        service_level(rate, aht, case.agents, case.target_s),
        average_speed_of_answer(rate, aht, case.agents),
        occupancy(rate, aht, case.agents),
    )


def naive_fifo(snapshot: RoutingSnapshot) -> list[tuple[str, str]]:
    """Baseline: oldest first, first agent of the queue with room on the channel."""
    load = {a.id: dict(a.load) for a in snapshot.agents}
    out = []
    for it in sorted(snapshot.interactions, key=lambda i: i.enqueued_at):
        for a in snapshot.agents:
            if it.queue_id in a.queues and a.capacity.get(it.channel, 0) > load[a.id].get(
                it.channel, 0
            ):
                load[a.id][it.channel] = load[a.id].get(it.channel, 0) + 1
                out.append((it.id, a.id))
                break
    return out


def bench_snapshot(waiting: int, agents: int, seed: int = 3) -> RoutingSnapshot:
    """Three queues (one skill-gated), all channels, mixed tiers, agents partly loaded."""
    rng = random.Random(seed)
    queues = {
        q: QueueView(id=q, required_skills={"x": 1} if q == "sales" else {})
        for q in ("support", "sales", "vip")
    }
    its = tuple(
        InteractionView(
            id=f"i{n}",
            queue_id=rng.choice(list(queues)),
            channel=rng.choice(("voice", "chat", "email", "sms")),
            enqueued_at=NOW - rng.uniform(0, 900),
            tier=rng.choice(("vip", "enterprise", "household", "standard")),
            lifetime_value=rng.uniform(0, 1e5),
        )
        for n in range(waiting)
    )
    ags = tuple(
        AgentView(
            id=f"a{n}",
            available=True,
            queues=frozenset(rng.sample(list(queues), 2)),
            skills={"x": rng.randint(0, 3)},
            idle_since=NOW - rng.uniform(0, 600),
            capacity={"voice": 1, "chat": 3, "email": 5, "sms": 3},
            load={"chat": rng.randint(0, 3)},
        )
        for n in range(agents)
    )
    return RoutingSnapshot(its, ags, queues, RoutingConfig())


@dataclass(frozen=True)
class Throughput:
    waiting: int
    agents: int
    decisions: int
    engine_s: float  # median seconds per decide() call
    naive_decisions: int
    naive_s: float  # median seconds per naive_fifo() call, same snapshot, same run

    @property
    def per_s(self) -> float:
        return self.decisions / self.engine_s if self.engine_s else math.inf

    @property
    def naive_per_s(self) -> float:
        return self.naive_decisions / self.naive_s if self.naive_s else math.inf


def throughput(waiting: int, agents: int, runs: int) -> Throughput:
    """Median of `runs` calls of decide() and of the naive baseline, interleaved."""
    snapshot = bench_snapshot(waiting, agents)
    engine, naive = [], []
    made = baseline_made = 0
    for _ in range(runs):
        started = time.perf_counter()
        made = len(decide(snapshot, NOW))
        engine.append(time.perf_counter() - started)
        started = time.perf_counter()
        baseline_made = len(naive_fifo(snapshot))
        naive.append(time.perf_counter() - started)
    return Throughput(
        waiting,
        agents,
        made,
        statistics.median(engine),
        baseline_made,
        statistics.median(naive),
    )


def run_routing_bench(smoke: bool = False) -> dict[str, Any]:
    """Everything the report prints; `smoke` is a seconds-long version for the test suite."""
    contacts = 1_500 if smoke else 50_000
    rows = []
    for case in CASES[:1] if smoke else CASES:
        sim = simulate(case, contacts)
        fifo_sl = simulate(case, contacts, fifo=True).service_level
        rows.append((case, sim, erlang_reference(case), fifo_sl))
    tier_case = CASES[1]
    prio = simulate(tier_case, contacts)
    fifo = simulate(tier_case, contacts, fifo=True)
    sizes = [(100, 50)] if smoke else [(w, a) for w in (100, 1_000, 5_000) for a in (50, 500)]
    return {
        "contacts": contacts,
        "cases": rows,
        "tiers": (tier_case, prio, fifo),
        "throughput": [throughput(w, a, 3 if smoke else 15) for w, a in sizes],
    }


def print_report(result: dict[str, Any]) -> None:
    print("decide() throughput vs a naive FIFO first-available loop (same snapshots, same run)")
    print(
        f"{'waiting':>8} {'agents':>7} {'offers':>7} {'decide ms':>10} {'decisions/s':>12} "
        f"{'naive ms':>9} {'naive dec/s':>12} {'ratio':>6}"
    )
    for t in result["throughput"]:
        print(
            f"{t.waiting:>8} {t.agents:>7} {t.decisions:>7} {t.engine_s * 1000:>10.1f} "
            f"{t.per_s:>12,.0f} {t.naive_s * 1000:>9.1f} {t.naive_per_s:>12,.0f} "
            f"{t.per_s / t.naive_per_s:>5.2f}x"
        )
    print(f"\nSimulation: {result['contacts']:,} contacts per case, real routing.engine.decide")
    print(
        f"{'case':<42} {'SL sim':>7} {'SL fifo':>7} {'SL Erl':>7} {'ASA sim':>8} "
        f"{'ASA Erl':>8} {'occ sim':>8} {'occ Erl':>8}"
    )
    for case, sim, (sl, asa, occ), fifo_sl in result["cases"]:
        print(
            f"{case.name:<42} {sim.service_level:7.3f} {fifo_sl:7.3f} {sl:7.3f} "
            f"{sim.asa_s:8.1f} {asa:8.1f} {sim.occupancy:8.3f} {occ:8.3f}"
        )
    case, prio, fifo = result["tiers"]
    print(f"\nMean / p90 wait by tier, {case.name}: value-first vs FIFO (same arrivals)")
    for tier in prio.waits_by_tier:
        p, f = prio.waits_by_tier[tier], fifo.waits_by_tier[tier]
        print(
            f"  {tier:<11} value-first {statistics.fmean(p):7.1f} s / {pct(p, 0.9):7.1f} s"
            f"   fifo {statistics.fmean(f):7.1f} s / {pct(f, 0.9):7.1f} s"
        )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    print_report(run_routing_bench(parser.parse_args().smoke))


if __name__ == "__main__":
    main()
