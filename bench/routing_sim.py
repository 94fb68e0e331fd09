"""Routing benchmark: the real engine on a simulated clock vs Erlang C (pyworkforce), tier waits
under value-first vs FIFO routing, and decide() latency at 10,000 waiting x 500 agents.

    python -m bench.routing_sim            # full run (100k+ contacts per case)
    python -m bench.routing_sim --smoke    # seconds, used by the test suite
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time
from dataclasses import dataclass, replace

from routing.engine import decide
from routing.types import AgentView, InteractionView, QueueView, RoutingConfig, RoutingSnapshot

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


def simulate(case: Case, contacts: int, *, fifo: bool = False, seed: int = 7) -> SimResult:
    """Event-driven: arrivals and completions; after each event the engine decides."""
    rng = random.Random(seed)
    rate = case.calls / (case.interval_min * 60)
    aht = case.aht_min * 60
    queue = QueueView(id=QUEUE, answer_target_s=case.target_s)
    config = RoutingConfig()
    if fifo:  # only waiting time counts: first come, first served
        config = replace(
            config,
            weights=replace(config.weights, tier={}, value_per_1000=0, sla_max=0, channel={}),
        )
    free_at_idle = {f"a{n}": 0.0 for n in range(case.agents)}  # agent -> idle since (free)
    events: list[tuple[float, int, str, str]] = []  # (time, seq, kind, id)
    seq = 0
    t = 0.0
    for n in range(contacts):
        t += rng.expovariate(rate)
        events.append((t, seq, "arrive", f"c{n}"))
        seq += 1
    heapq.heapify(events)
    tiers = [tier for tier, _ in TIER_MIX]
    weights = [w for _, w in TIER_MIX]
    waiting: dict[str, InteractionView] = {}
    waits: dict[str, list[float]] = {tier: [] for tier in tiers}
    busy_time = 0.0
    answered_in_target = 0
    end = 0.0
    while events:
        now, _, kind, ident = heapq.heappop(events)
        end = now
        if kind == "arrive":
            tier = rng.choices(tiers, weights)[0]
            waiting[ident] = InteractionView(
                id=ident, queue_id=QUEUE, channel="voice", enqueued_at=now, tier=tier
            )
        else:
            free_at_idle[ident] = now
        if not waiting or not free_at_idle:
            continue
        agents = tuple(
            AgentView(
                id=a,
                available=True,
                queues=frozenset({QUEUE}),
                capacity={"voice": 1},
                idle_since=idle,
            )
            for a, idle in free_at_idle.items()
        )
        snapshot = RoutingSnapshot(tuple(waiting.values()), agents, {QUEUE: queue}, config)
        for d in decide(snapshot, now):
            it = waiting.pop(d.interaction_id)
            del free_at_idle[d.agent_id]
            wait = now - it.enqueued_at
            waits[it.tier].append(wait)
            answered_in_target += wait <= case.target_s
            handle = rng.expovariate(1 / aht)
            busy_time += handle
            heapq.heappush(events, (now + handle, seq, "done", d.agent_id))
            seq += 1
    every = [w for ws in waits.values() for w in ws]
    return SimResult(
        answered_in_target / len(every),
        statistics.fmean(every),
        busy_time / (case.agents * end),
        waits,
    )


def erlang_reference(case: Case) -> tuple[float, float, float]:
    from pyworkforce.queuing import ErlangC

    ref = ErlangC(
        transactions=case.calls,
        aht=case.aht_min,
        asa=case.target_s / 60,
        interval=int(case.interval_min),
    )
    pw = ref.waiting_probability(case.agents)
    traffic = case.calls / (case.interval_min * 60) * case.aht_min * 60
    asa = pw * case.aht_min * 60 / (case.agents - traffic)
    return ref.service_level(case.agents), asa, ref.achieved_occupancy(case.agents)


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


def latency(waiting: int, agents: int, runs: int) -> tuple[float, float, float]:
    rng = random.Random(3)
    now = 1_800_000_000.0
    queues = {
        q: QueueView(id=q, required_skills={"x": 1} if q == "sales" else {})
        for q in ("support", "sales", "vip")
    }
    its = tuple(
        InteractionView(
            id=f"i{n}",
            queue_id=rng.choice(list(queues)),
            channel=rng.choice(("voice", "chat", "email", "sms")),
            enqueued_at=now - rng.uniform(0, 900),
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
            idle_since=now - rng.uniform(0, 600),
            capacity={"voice": 1, "chat": 3, "email": 5, "sms": 3},
            load={"chat": rng.randint(0, 3)},
        )
        for n in range(agents)
    )
    snapshot = RoutingSnapshot(its, ags, queues, RoutingConfig())
    samples, baseline = [], []
    for _ in range(runs):
        started = time.perf_counter()
        decide(snapshot, now)
        samples.append(time.perf_counter() - started)
        started = time.perf_counter()
        naive_fifo(snapshot)
        baseline.append(time.perf_counter() - started)
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return p50, p99, statistics.median(baseline)


def run_routing_bench(smoke: bool = False) -> dict[str, object]:
    contacts = 2_000 if smoke else 100_000
    rows = []
    for case in CASES[:1] if smoke else CASES:
        sim = simulate(case, contacts)
        fifo_sl = simulate(case, contacts, fifo=True).service_level
        rows.append((case, sim, erlang_reference(case), fifo_sl))
    tier_case = CASES[1]
    prio = simulate(tier_case, contacts)
    fifo = simulate(tier_case, contacts, fifo=True)
    waiting, agents = (1_000, 50) if smoke else (10_000, 500)
    lat = latency(waiting, agents, 3 if smoke else 30)
    return {
        "contacts": contacts,
        "cases": rows,
        "tiers": (tier_case, prio, fifo),
        "latency": lat,
        "waiting": waiting,
        "agents": agents,
    }


def print_report(result: dict[str, object]) -> None:
    print(f"Simulation: {result['contacts']:,} contacts per case, real routing.engine.decide")
    print(
        f"{'case':<42} {'SL sim':>7} {'SL fifo':>7} {'SL Erl':>7} {'ASA sim':>8} "
        f"{'ASA Erl':>8} {'occ sim':>8} {'occ Erl':>8}"
    )
    for case, sim, (sl, asa, occ), fifo_sl in result["cases"]:  # type: ignore[attr-defined]
        print(
            f"{case.name:<42} {sim.service_level:7.3f} {fifo_sl:7.3f} {sl:7.3f} "
            f"{sim.asa_s:8.1f} {asa:8.1f} {sim.occupancy:8.3f} {occ:8.3f}"
        )
    case, prio, fifo = result["tiers"]  # type: ignore[misc]
    print(f"\nMean / p90 wait by tier, {case.name}: value-first vs FIFO (same arrivals)")
    for tier in prio.waits_by_tier:
        p, f = prio.waits_by_tier[tier], fifo.waits_by_tier[tier]
        print(
            f"  {tier:<11} value-first {statistics.fmean(p):7.1f} s / {pct(p, 0.9):7.1f} s"
            f"   fifo {statistics.fmean(f):7.1f} s / {pct(f, 0.9):7.1f} s"
        )
    p50, p99, base = result["latency"]  # type: ignore[misc]
    print(
        f"\ndecide() with {result['waiting']:,} waiting x {result['agents']} agents: "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; naive FIFO baseline "
        f"{base * 1000:.1f} ms (ratio {p50 / base:.2f}x)"
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
