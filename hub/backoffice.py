"""Optional back-office lookup: ask the company's ERP / shop about a customer when they get in
touch; cache the answer for the 360 panel. Runs off the event bus, so a slow ERP never delays
storing or routing a contact."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp
from sqlmodel import select

from hub.context import Hub
from hub.events import CustomerUpdated, Event, InteractionReceived
from hub.models import BackofficeRecord, Customer, CustomerIdentity

log = logging.getLogger(__name__)

BACKOFFICE_GROUP = "backoffice"
MAX_ANSWER_BYTES = 65_536


async def on_events(hub: Hub, events: list[Event]) -> None:
    for customer_id in {e.customer_id for e in events if isinstance(e, InteractionReceived)}:
        await refresh_backoffice(hub, customer_id)


async def refresh_backoffice(hub: Hub, customer_id: str, *, force: bool = False) -> bool:
    """Fetch and cache; returns True when a fresh answer was stored."""
    cfg = hub.settings.customers
    if not cfg.backoffice_url:
        return False
    async with hub.store.session() as session:
        record = await session.get(BackofficeRecord, customer_id)
        customer = await session.get(Customer, customer_id)
        identities = (
            await session.exec(
                select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
            )
        ).all()
    if customer is None:
        return False
    fresh_until = record.fetched_at + timedelta(seconds=cfg.backoffice_ttl_s) if record else None
    if not force and fresh_until is not None and fresh_until > hub.now() and not record.error:  # type: ignore[union-attr]
        return False
    query = {
        "customer_id": customer.id,
        "name": customer.name,
        "identities": [{"kind": i.kind, "value": i.value} for i in identities],
    }
    data, error = await _fetch(hub, query)
    async with hub.transaction() as tx:
        row = await tx.session.get(BackofficeRecord, customer_id) or BackofficeRecord(
            customer_id=customer_id
        )
        if data is not None:
            row.data = data
        row.error, row.fetched_at = error, hub.now()
        tx.session.add(row)
        tx.emit(CustomerUpdated(customer_id=customer_id))
    return data is not None


async def _fetch(hub: Hub, query: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    cfg = hub.settings.customers
    headers = {"Authorization": f"Bearer {cfg.backoffice_token}"} if cfg.backoffice_token else {}
    timeout = aiohttp.ClientTimeout(total=cfg.backoffice_timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(cfg.backoffice_url, json=query, headers=headers) as resp,
        ):
            body = await resp.content.read(MAX_ANSWER_BYTES + 1)
            if resp.status != 200:
                return None, f"back office answered {resp.status}"
            if len(body) > MAX_ANSWER_BYTES:
                return None, "back-office answer too large"
            data = json.loads(body)
            if not isinstance(data, dict):
                return None, "back-office answer is not a JSON object"
            return data, ""
    except TimeoutError:
        return None, f"back office did not answer within {cfg.backoffice_timeout_s} s"
    except (aiohttp.ClientError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"back office unreachable: {type(exc).__name__}"
    except asyncio.CancelledError:
        raise
