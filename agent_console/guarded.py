"""A Socket.IO namespace whose every event ends in an answer, whatever goes wrong."""

from __future__ import annotations

import logging
from typing import Any

import socketio

from hub.availability import UNAVAILABLE, unavailable

log = logging.getLogger(__name__)
INTERNAL = {"ok": False, "error": "internal", "message": "something went wrong"}


def failure_ack(exc: BaseException, what: str) -> dict[str, Any]:
    """The ack for an exception that is not a HubError: `unavailable` when the database or Redis
    is down (the client retries), else `internal` (logged with its traceback)."""
    if unavailable(exc):
        log.warning("%s: dependency unavailable (%s)", what, exc)
        return UNAVAILABLE
    log.exception("%s failed", what)
    return INTERNAL


def refusal(ack: dict[str, Any]) -> socketio.exceptions.ConnectionRefusedError:
    """A `connect_error` as socket.io clients read it: `err.message` and `err.data` = the ack.
    (With one argument python-socketio sends only `str(ack)` as the message, so the console's
    `err.data.error === "unauthorized"` check never matched.)"""
    return socketio.exceptions.ConnectionRefusedError(str(ack.get("message") or "refused"), ack)


class GuardedNamespace(socketio.AsyncNamespace):
    """An exception escaping a handler used to leave the client waiting: python-socketio sends no
    ack for it, and a failed `connect` left the socket half-open. Now an event gets an error ack
    and a connect a `connect_error` with the same payload."""

    async def trigger_event(self, event: str, *args: Any) -> Any:
        try:
            return await super().trigger_event(event, *args)
        except socketio.exceptions.ConnectionRefusedError:
            raise
        except Exception as exc:
            answer = failure_ack(exc, f"{self.namespace} {event}")
            if event == "connect":
                raise refusal(answer) from None
            return None if event == "disconnect" else answer
