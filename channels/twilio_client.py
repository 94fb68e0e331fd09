"""The only place the Twilio REST client is built; also signature checks and the calls we make."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.base import SendError, SendResult
from hub.settings import TwilioSettings

log = logging.getLogger(__name__)

# Twilio error codes that no retry can fix (bad number, opted out, not SMS-capable, ...).
PERMANENT_CODES = {21211, 21408, 21610, 21612, 21614, 21617, 30003, 30004, 30005, 30006, 30007}

# The Retry-After of the last answer in this task: twilio's exceptions do not carry headers.
_retry_after: ContextVar[float | None] = ContextVar("twilio_retry_after", default=None)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP-date); None if absent/bad."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HubTwilioHttpClient(AsyncTwilioHttpClient):
    """Applies our timeout to every request and, given `base_url`, sends every request there
    instead of *.twilio.com (tests' local recorder).

    twilio's own client stores the constructor timeout but passes `timeout=None` per request,
    which aiohttp reads as "no timeout at all": a stalled Twilio would hang a relay forever.
    """

    def __init__(self, base_url: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = urlsplit(base_url.rstrip("/")) if base_url else None

    async def request(
        self, method: str, url: str, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Response:
        if self.base is not None:
            parts = urlsplit(url)
            url = urlunsplit(
                (self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, "")
            )
        response = await super().request(
            method, url, *args, timeout=timeout if timeout is not None else self.timeout, **kwargs
        )
        headers = response.headers or {}
        _retry_after.set(retry_after_s(headers.get("Retry-After")) if not response.ok else None)
        return response


def make_twilio_client(settings: TwilioSettings, timeout_s: float = 15.0) -> Client:
    """Must be called inside the running event loop (the HTTP client opens an aiohttp session)."""
    http = HubTwilioHttpClient(settings.api_base_url, timeout=timeout_s)
    return Client(settings.account_sid, settings.auth_token, http_client=http)


async def close_twilio_client(client: Client) -> None:
    http = client.http_client
    if isinstance(http, AsyncTwilioHttpClient):
        await http.close()


def _send_error(exc: Exception) -> SendError:
    if isinstance(exc, TwilioRestException):
        code = str(exc.code) if exc.code is not None else None
        permanent = (exc.code in PERMANENT_CODES) or (400 <= exc.status < 500 and exc.status != 429)
        return SendError(
            f"Twilio {exc.status}: {exc.msg}",
            permanent=permanent,
            code=code,
            retry_after=_retry_after.get() if exc.status in (429, 503) else None,
        )
    return SendError(f"Twilio unreachable: {type(exc).__name__}", permanent=False)


async def send_sms(
    client: Client, *, from_: str, to: str, body: str, status_callback: str | None = None
) -> SendResult:
    kwargs: dict[str, Any] = {"from_": from_, "to": to, "body": body}
    if status_callback:
        kwargs["status_callback"] = status_callback
    try:
        message = await client.messages.create_async(**kwargs)
    except (TwilioException, OSError, TimeoutError) as exc:
        raise _send_error(exc) from exc
    except Exception as exc:  # aiohttp.ClientError and friends: treat as temporary
        raise _send_error(exc) from exc
    return SendResult(provider_ref=str(message.sid), status=_sent_status(message.status))


def _sent_status(status: Any) -> str:
    text = str(getattr(status, "value", status) or "queued")
    return "sent" if text in ("queued", "accepted", "sending", "scheduled") else text


async def connect_call(client: Client, call_sid: str, twiml: str) -> None:
    try:
        await client.calls(call_sid).update_async(twiml=twiml)
    except Exception as exc:
        raise _send_error(exc) from exc


async def place_call(
    client: Client, *, to: str, from_: str, twiml: str, status_callback: str
) -> str:
    """Create a call (POST /Calls.json); returns its CallSid."""
    try:
        call = await client.calls.create_async(
            to=to, from_=from_, twiml=twiml, status_callback=status_callback
        )
    except TwilioRestException as exc:
        raise _send_error(exc) from exc  # Twilio answered: no call was created
    except Exception as exc:
        # No answer: the call may exist. Callers must not blindly retry (code "no_answer").
        raise SendError(
            f"Twilio did not answer: {type(exc).__name__}", permanent=True, code="no_answer"
        ) from exc
    return str(call.sid)


async def hangup_call(client: Client, call_sid: str) -> None:
    try:
        await client.calls(call_sid).update_async(status="completed")
    except Exception as exc:
        raise _send_error(exc) from exc


def validate_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
