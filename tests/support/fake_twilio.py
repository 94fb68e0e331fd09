"""A local stand-in for Twilio's REST API that records every request (nothing leaves the machine).

Tests await a recorded request with `wait_for(predicate)` instead of sleeping, and can make the
next requests fail (`fail_next`) to exercise retries and permanent errors.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    auth: tuple[str, str] | None


@dataclass
class Failure:
    status: int
    code: int
    message: str
    retry_after: str | None = None  # the Retry-After header, if any


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    requests: list[Recorded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    base_url: str = ""
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def fail_next(
        self,
        count: int,
        status: int = 500,
        code: int = 20500,
        message: str = "Internal Server Error",
        retry_after: str | None = None,
    ) -> None:
        self.failures.extend(Failure(status, code, message, retry_after) for _ in range(count))

    def messages(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/Messages.json")]

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], timeout: float = 10.0
    ) -> Recorded:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                await self._changed.wait()

    async def _record(self, request: web.Request) -> Recorded:
        auth = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            auth = (user, password)
        form = {k: str(v) for k, v in (await request.post()).items()}
        recorded = Recorded(request.method, request.path, form, auth)
        async with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()
        return recorded

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    async def handle(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if recorded.auth != (self.account_sid, self.auth_token):
            return self._error(401, 20003, "Authenticate")
        if self.failures:
            f = self.failures.pop(0)
            response = self._error(f.status, f.code, f.message)
            if f.retry_after is not None:
                response.headers["Retry-After"] = f.retry_after
            return response
        if request.path.endswith("/Messages.json"):
            return web.json_response(self._message(recorded), status=201)
        if "/Calls" in request.path:
            return web.json_response(self._call(request, recorded), status=200)
        return self._error(404, 20404, "The requested resource was not found")

    def _message(self, r: Recorded) -> dict[str, object]:
        return {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": self.account_sid,
            "from": r.form.get("From"),
            "to": r.form.get("To"),
            "body": r.form.get("Body"),
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": "Mon, 23 Nov 2026 10:00:00 +0000",
            "uri": r.path,
        }

    def _call(self, request: web.Request, r: Recorded) -> dict[str, object]:
        sid = request.match_info.get("call_sid") or "CA" + secrets.token_hex(16)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "status": r.form.get("Status", "in-progress"),
            "uri": r.path,
        }


@asynccontextmanager
async def start_fake_twilio(
    account_sid: str = "AC" + "0" * 32, auth_token: str = "test-twilio-auth-token"
) -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio(account_sid, auth_token)
    app = web.Application()
    base = "/2010-04-01/Accounts/{sid}"
    app.router.add_post(base + "/Messages.json", fake.handle)
    app.router.add_post(base + "/Calls.json", fake.handle)
    app.router.add_post(base + "/Calls/{call_sid}.json", fake.handle)
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
