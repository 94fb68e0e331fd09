"""Twilio Messaging: normalize inbound SMS/MMS webhooks and status callbacks; send replies."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from channels.base import Attachment, ChannelError, InboundContact, OutboundMessage, SendResult
from channels.twilio_client import send_sms

EMPTY_TWIML = str(MessagingResponse())
MAX_MEDIA = 10
STATUSES = frozenset(
    {
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "receiving",
        "received",
        "accepted",
        "scheduled",
        "canceled",
    }
)


def parse_sms_webhook(form: Mapping[str, str], *, max_body_chars: int) -> InboundContact:
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not sid or len(sid) > 64:
        raise ChannelError("MessageSid is missing")
    if not sender:
        raise ChannelError("From is missing")
    try:
        media = int(form.get("NumMedia") or 0)
    except ValueError:
        raise ChannelError("NumMedia is not a number") from None
    if not 0 <= media <= MAX_MEDIA:
        raise ChannelError(f"NumMedia must be between 0 and {MAX_MEDIA}")
    attachments = tuple(
        Attachment(
            filename=f"media-{n}",
            content_type=form.get(f"MediaContentType{n}", "application/octet-stream")[:100],
            size=0,
            url=form.get(f"MediaUrl{n}", "")[:1000] or None,
        )
        for n in range(media)
    )
    return InboundContact(
        channel="sms",
        provider_ref=sid,
        sender=sender[:64],
        recipient=(form.get("To") or "")[:64],
        body=(form.get("Body") or "")[:max_body_chars],
        attachments=attachments,
        meta={"account_sid": (form.get("AccountSid") or "")[:64], "num_media": media},
    )


def parse_sms_status(form: Mapping[str, str]) -> tuple[str, str, str | None]:
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or len(sid) > 64:
        raise ChannelError("MessageSid is missing")
    if status not in STATUSES:
        raise ChannelError(f"unknown MessageStatus {status[:32]!r}")
    error = (form.get("ErrorCode") or "").strip()[:16] or None
    return sid, status, error


class TwilioSmsChannel:
    """The `sms` channel's sender: replies go out from the number the customer wrote to."""

    name = "sms"

    def __init__(self, client: Client, *, default_from: str, status_callback: str | None) -> None:
        self.client = client
        self.default_from = default_from
        self.status_callback = status_callback

    async def send(self, message: OutboundMessage) -> SendResult:
        return await send_sms(
            self.client,
            from_=message.from_ or self.default_from,
            to=message.to,
            body=message.body,
            status_callback=self.status_callback,
        )
