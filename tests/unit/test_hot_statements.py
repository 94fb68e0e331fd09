"""The statements every message runs are plain Core: naming one model attribute (Model.x rather
than TABLE.c.x or core(Model.x)) sends a statement through the ORM's compile and row-loading
path, a quarter more CPU each, forty-odd times per B1 message (docs/performance.md)."""

from __future__ import annotations

import pytest

import agent_console.broadcaster as broadcaster
import agent_console.message_batch as message_batch
import agent_console.presenter as presenter
import hub.actions.handle_offer as handle_offer
import hub.actions.receive_batch as receive_batch
import hub.actions.route_interactions as route_interactions
import hub.actions.take_back_offers as take_back_offers
import hub.actions.wrap_up as wrap_up
import hub.auth as auth
import hub.customer_cards as customer_cards
import hub.customers as customers
import hub.routing_snapshot as routing_snapshot

HOT = [
    (
        routing_snapshot,
        [
            "LOADS",
            "PENDING_WRAPUPS",
            "LOADS_AND_PENDING",
            "AVAILABLE_AGENTS",
            "ALL_QUEUES",
            "WAITING",
        ],
    ),
    (
        route_interactions,
        ["GATE", "OFFER_INTERACTION", "OFFERED_NOW", "AGENTS_OFFERED", "FENCE_BUMP"],
    ),
    (take_back_offers, ["REQUEUE", "CLOSE_OFFERS", "MISSED", "OVER_THE_LIMIT", "SET_AWAY"]),
    (handle_offer, ["ACCEPT", "OFFER_ACCEPTED", "MISSED_RESET"]),
    (wrap_up, ["CLOSE", "AGENT_WRAPPED_UP"]),
    (auth, ["TOKEN_AGENT"]),
    (customers, ["CARD", "IDENTITIES", "NOTES", "HISTORY"]),
    (
        presenter,
        [
            "ATTACHMENTS",
            "MESSAGES_OF",
            "MESSAGES_OF_MANY",
            "OFFER_WITH_INTERACTION",
            "OFFERS_WITH_INTERACTIONS",
        ],
    ),
    (customer_cards, ["CARDS", "IDENTITIES", "NOTES", "HISTORIES"]),
    (message_batch, ["MESSAGES", "HOLDERS"]),
    (broadcaster, ["STILL_OFFERED", "STILL_RINGING"]),
    (receive_batch, ["STORED", "IDENTITIES", "OPEN"]),
]


@pytest.mark.parametrize(
    "module, name",
    [(m, n) for m, names in HOT for n in names],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_hot_statements_are_plain_core(module: object, name: str) -> None:
    statement = getattr(module, name)
    assert statement._propagate_attrs.get("compile_state_plugin") != "orm"
