"""Twilio Voice: normalize call webhooks and build the TwiML we answer (the library escapes)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import Dial, VoiceResponse

from channels.base import ChannelError, InboundContact

CALL_STATUSES = frozenset(
    {"queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"}
)
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True, slots=True)
class VoiceStatus:
    call_sid: str
    status: str
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class WaitInfo:
    """Twilio's own queue figures from a waitUrl request (all optional)."""

    queue_position: int | None
    queue_time_s: int | None
    current_queue_size: int | None


@dataclass(frozen=True, slots=True)
class Recording:
    call_sid: str
    url: str
    duration_s: int | None


# Characters XML 1.0 forbids: a control character in a queue name or greeting would make
# Twilio reject the whole document (and drop the call). They carry no meaning in speech.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml(r: VoiceResponse) -> str:
    return XML_INVALID.sub("", str(r))


def _sid(form: Mapping[str, str]) -> str:
    sid = (form.get("CallSid") or "").strip()
    if not sid or len(sid) > 64:
        raise ChannelError("CallSid is missing")
    return sid


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if len(text) > 12:  # no call lasts 10**12 s: huge digit strings are garbage
            raise ValueError(text)
        return max(0, int(text))
    except ValueError:
        raise ChannelError(f"not a number: {str(value)[:20]!r}") from None


def parse_voice_webhook(form: Mapping[str, str]) -> InboundContact:
    sender = (form.get("From") or "").strip()
    if not sender:
        raise ChannelError("From is missing")
    return InboundContact(
        channel="voice",
        provider_ref=_sid(form),
        sender=sender[:64],
        recipient=(form.get("To") or "")[:64],
        sender_name=(form.get("CallerName") or "")[:200],
        body="Incoming call",
        meta={
            "source": "twilio",
            "call_status": (form.get("CallStatus") or "")[:32],
            "direction": (form.get("Direction") or "inbound")[:32],
        },
    )


def parse_voice_status(form: Mapping[str, str]) -> VoiceStatus:
    status = (form.get("CallStatus") or "").strip().lower()
    if status not in CALL_STATUSES:
        raise ChannelError(f"unknown CallStatus {status[:32]!r}")
    return VoiceStatus(_sid(form), status, _int(form.get("CallDuration")))


def parse_wait(form: Mapping[str, str]) -> WaitInfo:
    """QueuePosition / QueueTime / CurrentQueueSize; garbage (not a number) is a ChannelError."""
    return WaitInfo(
        queue_position=_int(form.get("QueuePosition")),
        queue_time_s=_int(form.get("QueueTime")),
        current_queue_size=_int(form.get("CurrentQueueSize")),
    )


def parse_recording(form: Mapping[str, str]) -> Recording:
    url = (form.get("RecordingUrl") or "").strip()
    if not url.startswith("https://") and not url.startswith("http://"):
        raise ChannelError("RecordingUrl is missing")
    return Recording(_sid(form), url[:1000], _int(form.get("RecordingDuration")))


def enqueue_twiml(greeting: str, queue_name: str, wait_url: str, language: str) -> str:
    r = VoiceResponse()
    r.say(greeting, language=language)
    r.enqueue(queue_name, wait_url=wait_url, wait_url_method="POST")
    return _xml(r)


# Twilio <Say> voices by the language a queue is configured with (`[[queues]] language`).
SAY_LANGUAGES = {
    "en": "en-US",
    "de": "de-DE",
    "zh": "zh-CN",
    "fr": "fr-FR",
    "es": "es-ES",
    "ja": "ja-JP",
    "it": "it-IT",
    "pt": "pt-BR",
}

# The wait announcement in each language we have words for; others fall back to English.
WAIT_PHRASES: dict[str, tuple[str, str, str]] = {
    "en": (
        "You are number {n} in line.",
        " The estimated wait is about {m} minute.",
        " The estimated wait is about {m} minutes.",
    ),
    "de": (
        "Sie sind an Position {n} der Warteschlange.",
        " Die geschätzte Wartezeit beträgt etwa {m} Minute.",
        " Die geschätzte Wartezeit beträgt etwa {m} Minuten.",
    ),
    "zh": ("您前面还有{before}位客户。", "预计等待时间约{m}分钟。", "预计等待时间约{m}分钟。"),
    "fr": (
        "Vous êtes le numéro {n} dans la file d'attente.",
        " Le temps d'attente estimé est d'environ {m} minute.",
        " Le temps d'attente estimé est d'environ {m} minutes.",
    ),
    "es": (
        "Usted es el número {n} en la fila.",
        " El tiempo de espera estimado es de unos {m} minuto.",
        " El tiempo de espera estimado es de unos {m} minutos.",
    ),
}


def say_language(queue_language: str | None, default: str) -> str:
    """`zh-CN`, `de` or `de-AT` from a queue's config -> a Twilio voice; none -> `default`."""
    if not queue_language:
        return default
    if "-" in queue_language:
        return queue_language
    return SAY_LANGUAGES.get(queue_language.lower(), default)


def wait_announcement(position: int, wait_s: float | None, language: str) -> tuple[str, str]:
    """(text, language for <Say>): English words when we have none for the language."""
    base = language.split("-")[0].lower()
    if base not in WAIT_PHRASES:
        base, language = "en", "en-US"
    first, one, many = WAIT_PHRASES[base]
    text = first.format(n=position, before=max(position - 1, 0))
    if base == "zh" and position <= 1:
        text = "您是下一位。"
    if wait_s is not None:
        minutes = max(1, round(wait_s / 60))
        text += (one if minutes == 1 else many).format(m=minutes)
    return text, language


def wait_twiml(
    position: int | None, wait_s: float | None, hold_music_url: str, language: str
) -> str:
    r = VoiceResponse()
    if position:
        text, say_in = wait_announcement(position, wait_s, language)
        r.say(text, language=say_in)
    if hold_music_url:
        r.play(hold_music_url)
    else:
        r.pause(length=10)
    return _xml(r)


def voicemail_twiml(message: str, action_url: str, language: str) -> str:
    r = VoiceResponse()
    r.say(message, language=language)
    r.record(action=action_url, method="POST", max_length=120, play_beep=True)
    r.say("We did not get a message. Goodbye.", language=language)
    return _xml(r)


def dial_agent_twiml(
    *, client_identity: str | None, phone: str | None, caller_id: str | None
) -> str:
    r = VoiceResponse()
    dial = Dial(caller_id=caller_id) if caller_id else Dial()
    if client_identity:
        dial.client(client_identity)
    elif phone:
        dial.number(phone)
    else:
        raise ChannelError("the agent has neither a client identity nor a phone number")
    r.append(dial)
    return _xml(r)


def agent_endpoint(*, client_identity: str | None, phone: str | None) -> str:
    """Where the hub rings an agent for an outbound call: their browser client or their phone."""
    if client_identity:
        return f"client:{client_identity}"
    if phone:
        return phone
    raise ChannelError("the agent has neither a client identity nor a phone number")


def outbound_call_twiml(*, customer_number: str, caller_id: str) -> str:
    """Runs once the agent picked up: dial the customer, showing our number."""
    r = VoiceResponse()
    dial = Dial(caller_id=caller_id)
    dial.number(customer_number)
    r.append(dial)
    return _xml(r)


def reject_twiml(reason: str = "busy") -> str:
    """Twilio accepts `busy` or `rejected`; anything else becomes `rejected`."""
    r = VoiceResponse()
    r.reject(reason=reason if reason in ("busy", "rejected") else "rejected")
    return _xml(r)


def hangup_twiml(message: str, language: str) -> str:
    r = VoiceResponse()
    r.say(message, language=language)
    r.hangup()
    return _xml(r)
