"""A recording SMTP server (aiosmtpd Controller, own thread) that can refuse chosen recipients."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support.processes import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


@dataclass
class _Handler:
    reject: dict[str, str] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    sessions: int = 0  # EHLOs seen: one per client connection

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.reject.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(
            Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(content))
        )
        return "250 Message accepted for delivery"


class RecordingSmtpServer:
    """`reject_with(addr, "550 5.1.1 ...")` makes RCPT TO for that address fail with that reply."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.credentials = credentials
        self.handler = _Handler()
        self.logins: list[str] = []
        auth: dict[str, Any] = {}
        if credentials:
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **auth)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    @property
    def connections(self) -> int:
        return self.handler.sessions

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Until `count` messages arrived (aiosmtpd records them from its own thread)."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:  # noqa: ASYNC110 - set from another thread
                await asyncio.sleep(0.05)
        return self.messages

    def reject_with(self, address: str, reply: str) -> None:
        self.handler.reject[address.lower()] = reply

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def restart(self) -> None:
        """Drop every client connection, then listen again on the same port."""
        self.controller.stop()
        auth: dict[str, Any] = {}
        if self.credentials:
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **auth)
        self.controller.start()

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials:
            login, password = data.login.decode(), data.password.decode()
            if (login, password) == self.credentials:
                self.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
