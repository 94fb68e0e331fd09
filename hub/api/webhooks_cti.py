"""POST /webhooks/cti/{token}: Zammad-compatible generic CTI for any PBX (form or JSON)."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from aiohttp import web

from channels.base import ChannelError
from channels.cti import SIGNATURE_TOLERANCE_S, cti_signature_ok, cti_token_ok, parse_cti
from hub.actions.handle_cti import handle_cti
from hub.api.common import form_body, hub_of, parse_json_object
from hub.context import Hub
from hub.errors import Forbidden, Invalid, Unauthorized


async def read_payload(request: web.Request, body: bytes) -> dict[str, Any]:
    if request.content_type == "application/json":
        return parse_json_object(body or b"{}")
    form = await form_body(request)
    out: dict[str, Any] = {}
    for key in set(form.keys()):
        values = [str(v) for v in form.getall(key)]
        out[key] = values if key.endswith("[]") or len(values) > 1 else values[0]
    return out


async def check_signature(hub: Hub, secret: str, header: str | None, body: bytes) -> None:
    """403 for a missing, wrong or stale signature, and for a replay of one already used: the
    signature's digest is claimed (shared across hub processes) for the tolerance window."""
    if not cti_signature_ok(secret, header, body, time.time()):
        hub.metrics.webhooks.labels("cti", "bad_signature").inc()
        raise Forbidden("missing or wrong X-CTI-Signature")
    digest = hashlib.sha256((header or "").encode()).hexdigest()
    if not await hub.routing_state.acquire(
        f"cti-signature:{digest}", secrets.token_hex(8), 2 * SIGNATURE_TOLERANCE_S
    ):
        hub.metrics.webhooks.labels("cti", "replayed").inc()
        raise Forbidden("this X-CTI-Signature was already used (replay)")


async def cti(request: web.Request) -> web.Response:
    hub = hub_of(request)
    if not cti_token_ok(hub.settings.cti_token, request.match_info["token"]):
        hub.metrics.webhooks.labels("cti", "bad_token").inc()
        raise Unauthorized("unknown CTI token")
    body = await request.read()
    secret = hub.settings.cti.hmac_secret
    if secret:
        await check_signature(hub, secret, request.headers.get("X-CTI-Signature"), body)
    try:
        event = parse_cti(await read_payload(request, body))
    except ChannelError as exc:
        hub.metrics.webhooks.labels("cti", "invalid").inc()
        raise Invalid(str(exc)) from None
    answer = await handle_cti(hub, event)
    hub.metrics.webhooks.labels("cti", event.event).inc()
    return web.json_response(answer)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/cti/{token}", cti)
