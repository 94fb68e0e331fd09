"""Frozen value types the routing engine reads and returns (the hub builds them from the DB)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

CHANNELS: tuple[str, ...] = ("voice", "sms", "email", "chat")
TIERS: tuple[str, ...] = ("vip", "enterprise", "household", "standard")
STRATEGIES: tuple[str, ...] = ("longest_idle", "least_occupied", "round_robin", "skills_weighted")


@dataclass(frozen=True, slots=True)
class Weights:
    """Score weights; defaults are documented in docs/routing.md and overridable in config."""

    tier: Mapping[str, float] = field(
        default_factory=lambda: {
            "vip": 500.0,
            "enterprise": 300.0,
            "household": 100.0,
            "standard": 0.0,
        }
    )
    value_per_1000: float = 10.0  # points per 1,000 of lifetime value ...
    value_cap: float = 200.0  # ... capped, so value never dwarfs waiting
    wait_per_second: float = 1.0  # aging: nobody starves
    sla_max: float = 200.0  # points as the answer target approaches (reached at the target)
    sla_window_s: float = 30.0  # urgency ramps up over this window before the target
    channel: Mapping[str, float] = field(
        default_factory=lambda: {"voice": 50.0, "chat": 30.0, "sms": 10.0, "email": 0.0}
    )


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Opening hours on one weekday (0 = Monday), minutes since local midnight, end exclusive."""

    weekday: int
    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class QueueView:
    id: str
    channels: frozenset[str] = frozenset(CHANNELS)
    required_skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level
    language: str | None = None
    answer_target_s: float = 20.0
    service_level_pct: float = 80.0
    strategy: str = "longest_idle"
    overflow_after_s: float | None = None  # after this wait, widen ...
    overflow_to: str | None = None  # ... to agents of this queue too ...
    overflow_min_level: int | None = None  # ... and/or accept this lower skill level
    timezone: str = "UTC"
    hours: tuple[TimeWindow, ...] = ()  # empty = always open
    avg_handle_s: float = 180.0  # for estimated waits; the hub feeds the measured average


@dataclass(frozen=True, slots=True)
class InteractionView:
    id: str
    queue_id: str
    channel: str
    enqueued_at: float  # epoch seconds; kept across rejects, timeouts and restarts
    tier: str = "standard"
    lifetime_value: float = 0.0
    language: str | None = None
    preferred_agent_id: str | None = None  # last agent or account manager
    excluded_agent_ids: frozenset[str] = frozenset()  # rejected or let this offer time out ...
    excluded_until: float = math.inf  # ... skipped until then (epoch s): nobody passed over is
    # left stranded once everyone has passed (docs/routing.md, "Offers")
    offered_to: str | None = None  # an open offer already holds it


@dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    available: bool  # status == available (not away/offline)
    queues: frozenset[str] = frozenset()
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> level 1..10
    languages: frozenset[str] = frozenset()
    capacity: Mapping[str, int] = field(default_factory=lambda: {"voice": 1})  # per channel
    load: Mapping[str, int] = field(default_factory=dict)  # assigned + offered, per channel
    idle_since: float = 0.0  # end of last interaction (or login)
    wrapup_until: float | None = None  # no offers before this
    last_offered_at: float = 0.0  # for round robin


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    weights: Weights = field(default_factory=Weights)
    relationship_window_s: float = 30.0  # preferred agent gets the first offer this long
    exclusive_channels: frozenset[str] = frozenset({"voice"})  # a call excludes other work
    language_window_s: float = 60.0  # the customer's own language is required this long, then
    # any agent of the queue may answer (a rare language must not strand the contact)


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    interactions: tuple[InteractionView, ...]
    agents: tuple[AgentView, ...]
    queues: Mapping[str, QueueView]
    config: RoutingConfig = field(default_factory=RoutingConfig)


@dataclass(frozen=True, slots=True)
class ScorePart:
    label: str  # e.g. "VIP", "value", "waited 95 s", "SLA due in 5 s"
    points: float


@dataclass(frozen=True, slots=True)
class Priority:
    score: float
    parts: tuple[ScorePart, ...]

    def explain(self) -> str:
        """'VIP +500, value +38, waited 95 s +95, SLA due in 5 s +200'."""
        return ", ".join(f"{p.label} {p.points:+.0f}" for p in self.parts if p.points)


@dataclass(frozen=True, slots=True)
class Decision:
    """Offer `interaction_id` to `agent_id` now."""

    interaction_id: str
    agent_id: str
    priority: Priority
    reason: str = ""  # why this agent: strategy, relationship, overflow


@dataclass(frozen=True, slots=True)
class Ranked:
    """Where a waiting interaction stands: for the voice wait message and the chat widget."""

    interaction_id: str
    queue_id: str
    position: int  # 1 = next
    priority: Priority
    estimated_wait_s: float | None
