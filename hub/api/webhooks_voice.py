"""Twilio Voice webhooks: incoming call, wait announcements, recordings, status callbacks."""

from __future__ import annotations

from aiohttp import web

from channels.twilio_voice import (
    ENDED,
    enqueue_twiml,
    parse_recording,
    parse_voice_status,
    parse_voice_webhook,
    parse_wait,
    say_language,
    voicemail_twiml,
    wait_twiml,
)
from hub.actions.end_call import end_call, find_call
from hub.actions.receive_call import receive_call
from hub.actions.store_recording import store_recording
from hub.api.common import hub_of
from hub.api.webhooks_twilio import signed_form, twiml
from hub.context import Hub
from hub.models import Queue
from hub.queue_position import queue_position


async def voice(request: web.Request) -> web.Response:
    hub = hub_of(request)
    form = await signed_form(request, hub, "voice")
    contact = parse_voice_webhook(form)  # ChannelError -> 422 in the errors middleware
    answer = await receive_call(hub, contact)
    hub.metrics.webhooks.labels("voice", "duplicate" if answer.duplicate else "stored").inc()
    if not answer.duplicate:
        hub.metrics.interactions.labels("voice").inc()
    cfg = hub.settings.voice
    if answer.voicemail:
        action = hub.settings.public_url("/webhooks/twilio/voice/recording")
        return twiml(voicemail_twiml(cfg.voicemail_message, action, cfg.language))
    wait_url = hub.settings.public_url("/webhooks/twilio/voice/wait")
    return twiml(enqueue_twiml(cfg.greeting, answer.queue_id, wait_url, cfg.language))


async def wait(request: web.Request) -> web.Response:
    hub = hub_of(request)
    form = await signed_form(request, hub, "voice_wait")
    cfg = hub.settings.voice
    figures = parse_wait(form)  # ChannelError (not a number) -> 422
    call = await find_call(hub, (form.get("CallSid") or "")[:64])
    ranked = await queue_position(hub, call.id) if call is not None else None
    position: int | None
    estimate: float | None
    if ranked is not None:
        position, estimate = ranked.position, ranked.estimated_wait_s
    else:  # not ours (or already offered): Twilio's own figures
        position, estimate = figures.queue_position or None, None
    language = await _queue_language(hub, call.queue_id if call else None)
    return twiml(wait_twiml(position, estimate, cfg.hold_music_url, language))


async def _queue_language(hub: Hub, queue_id: str | None) -> str:
    """The caller hears the queue's language (`[[queues]] language`), else `voice.language`."""
    if not queue_id:
        return hub.settings.voice.language
    async with hub.store.session() as session:
        queue = await session.get(Queue, queue_id)
    return say_language(queue.language if queue else None, hub.settings.voice.language)


async def status(request: web.Request) -> web.Response:
    hub = hub_of(request)
    form = await signed_form(request, hub, "voice_status")
    parsed = parse_voice_status(form)  # ChannelError -> 422 in the errors middleware
    if parsed.status in ENDED:
        await end_call(hub, parsed.call_sid, parsed.status, parsed.duration_s)
    return twiml("<Response/>")


async def recording(request: web.Request) -> web.Response:
    hub = hub_of(request)
    form = await signed_form(request, hub, "voice_recording")
    rec = parse_recording(form)  # ChannelError -> 422 in the errors middleware
    await store_recording(hub, rec.call_sid, rec.url, rec.duration_s)
    return twiml(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Thank you. Goodbye.</Say>'
        "<Hangup/></Response>"
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/twilio/voice", voice)
    app.router.add_post("/webhooks/twilio/voice/wait", wait)
    app.router.add_post("/webhooks/twilio/voice/status", status)
    app.router.add_post("/webhooks/twilio/voice/recording", recording)
