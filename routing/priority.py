"""Explainable priority: tier + lifetime value + channel + waiting time + SLA urgency."""

from __future__ import annotations

from routing.types import InteractionView, Priority, QueueView, ScorePart, Weights

TIER_LABELS = {"vip": "VIP", "enterprise": "Enterprise", "household": "Household"}


def priority(
    interaction: InteractionView, queue: QueueView | None, weights: Weights, now: float
) -> Priority:
    waited = max(0.0, now - interaction.enqueued_at)
    parts = [
        ScorePart(
            TIER_LABELS.get(interaction.tier, interaction.tier.title()),
            weights.tier.get(interaction.tier, 0.0),
        ),
        ScorePart(
            f"value {interaction.lifetime_value / 1000:.0f}k",
            min(
                weights.value_cap,
                weights.value_per_1000 * max(0.0, interaction.lifetime_value) / 1000,
            ),
        ),
        ScorePart(interaction.channel, weights.channel.get(interaction.channel, 0.0)),
        ScorePart(f"waited {waited:.0f} s", weights.wait_per_second * waited),
    ]
    if queue is not None:
        parts.append(_sla(queue, waited, weights))
    return Priority(score=round(sum(p.points for p in parts), 6), parts=tuple(parts))


def _sla(queue: QueueView, waited: float, weights: Weights) -> ScorePart:
    """Urgency ramps up over the window before the answer target and stays at max after it."""
    left = queue.answer_target_s - waited
    if left <= 0:
        return ScorePart("SLA breached", weights.sla_max)
    window = max(weights.sla_window_s, 1e-9)
    if left >= window:
        return ScorePart(f"SLA due in {left:.0f} s", 0.0)
    return ScorePart(f"SLA due in {left:.0f} s", weights.sla_max * (1 - left / window))
