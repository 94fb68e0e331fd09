"""Register the channel adapters the configuration enables (the only place they are built)."""

from __future__ import annotations

from channels.email_smtp import SmtpSender, SmtpSettings
from channels.twilio_client import close_twilio_client, make_twilio_client
from channels.twilio_sms import TwilioSmsChannel
from channels.web_chat import Emitter, WebChatChannel
from hub.context import Hub


async def open_channels(hub: Hub, sio: Emitter) -> None:
    settings = hub.settings
    client = make_twilio_client(settings.twilio)
    hub.channels["sms"] = TwilioSmsChannel(
        client,
        default_from=settings.twilio.from_number,
        status_callback=settings.public_url("/webhooks/twilio/sms/status"),
    )
    hub.resources["twilio"] = client
    hub.channels["chat"] = WebChatChannel(sio)
    smtp = settings.email.smtp
    if smtp.host:
        hub.channels["email"] = SmtpSender(SmtpSettings(**smtp.model_dump()))


async def close_channels(hub: Hub) -> None:
    client = hub.resources.pop("twilio", None)
    if client is not None:
        await close_twilio_client(client)
    email = hub.channels.get("email")
    if isinstance(email, SmtpSender):
        await email.close()  # its idle connections
    hub.channels.clear()
