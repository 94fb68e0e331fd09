"""Explainable priority: tier + lifetime value + channel + waiting time + SLA urgency.

`score` is the hot path (every waiting interaction, every pass); `priority` builds the labelled
breakdown and is only called for interactions that get an offer or are ranked for display.
"""

from __future__ import annotations

from routing.types import InteractionView, Priority, QueueView, ScorePart, Weights

TIER_LABELS = {"vip": "VIP", "enterprise": "Enterprise", "household": "Household"}


def _sla_points(target_s: float, waited: float, weights: Weights) -> float:
    """Urgency ramps up over the window before the answer target and stays at max after it."""
    left = target_s - waited
    if left <= 0:
        return weights.sla_max
    window = max(weights.sla_window_s, 1e-9)
    return 0.0 if left >= window else weights.sla_max * (1 - left / window)


def _value_points(lifetime_value: float, weights: Weights) -> float:
    return min(weights.value_cap, weights.value_per_1000 * max(0.0, lifetime_value) / 1000)


def score(
    interaction: InteractionView, queue: QueueView | None, weights: Weights, now: float
) -> float:
    waited = max(0.0, now - interaction.enqueued_at)
    total = (
        weights.tier.get(interaction.tier, 0.0)
        + _value_points(interaction.lifetime_value, weights)
        + weights.channel.get(interaction.channel, 0.0)
        + weights.wait_per_second * waited
    )
    if queue is not None:
        total += _sla_points(queue.answer_target_s, waited, weights)
    return total


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
            _value_points(interaction.lifetime_value, weights),
        ),
        ScorePart(interaction.channel, weights.channel.get(interaction.channel, 0.0)),
        ScorePart(f"waited {waited:.0f} s", weights.wait_per_second * waited),
    ]
    if queue is not None:
        left = queue.answer_target_s - waited
        label = "SLA breached" if left <= 0 else f"SLA due in {left:.0f} s"
        parts.append(ScorePart(label, _sla_points(queue.answer_target_s, waited, weights)))
    return Priority(score=score(interaction, queue, weights, now), parts=tuple(parts))
