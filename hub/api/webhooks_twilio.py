"""Twilio Messaging webhooks: inbound SMS and delivery status. Signature first, then one commit."""

from __future__ import annotations

import logging

from aiohttp import web

from channels.base import ChannelError
from channels.twilio_client import validate_twilio_signature
from channels.twilio_sms import EMPTY_TWIML, parse_sms_status, parse_sms_webhook
from hub.actions.receive_contact import receive_contact
from hub.actions.update_message_status import update_message_status
from hub.api.common import form_body, hub_of
from hub.context import Hub
from hub.errors import Forbidden, Invalid

log = logging.getLogger(__name__)


async def signed_form(request: web.Request, hub: Hub, channel: str) -> dict[str, str]:
    """The POSTed form, only if X-Twilio-Signature matches public base URL + path + form."""
    form = {k: str(v) for k, v in (await form_body(request)).items()}
    url = hub.settings.public_url(request.rel_url.path_qs)
    signature = request.headers.get("X-Twilio-Signature")
    if not validate_twilio_signature(hub.settings.twilio.auth_token, url, form, signature):
        hub.metrics.webhooks.labels(channel, "bad_signature").inc()
        log.warning("rejected a %s webhook with a bad signature (url %s)", channel, url)
        raise Forbidden("invalid Twilio signature")
    return form


def twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/xml")


async def sms(request: web.Request) -> web.Response:
    hub = hub_of(request)
    form = await signed_form(request, hub, "sms")
    try:
        contact = parse_sms_webhook(form, max_body_chars=hub.settings.max_message_chars)
    except ChannelError as exc:
        hub.metrics.webhooks.labels("sms", "invalid").inc()
        raise Invalid(str(exc)) from None
    received = await receive_contact(hub, contact)  # returns only after COMMIT
    hub.metrics.webhooks.labels("sms", "duplicate" if received.duplicate else "stored").inc()
    if received.new_interaction:
        hub.metrics.interactions.labels("sms").inc()
    return twiml(EMPTY_TWIML)


async def sms_status(request: web.Request) -> web.Response:
    hub = hub_of(request)
    form = await signed_form(request, hub, "sms_status")
    sid, status, error = parse_sms_status(form)  # ChannelError -> 422 in the middleware
    found = await update_message_status(hub, "sms", sid, status, error or "")
    hub.metrics.webhooks.labels("sms_status", "stored" if found else "unknown").inc()
    return twiml(EMPTY_TWIML)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/twilio/sms", sms)
    app.router.add_post("/webhooks/twilio/sms/status", sms_status)
