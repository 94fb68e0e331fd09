"""Run real `python -m hub serve` processes for multi-process tests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "CRMHUB_PORT": str(self.port)}
        self.proc: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # Open for the life of the process (it writes there); read on failure.
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="crmhub-hub-", suffix=".log", delete=False
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "serve",
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        try:
            await until(self._ready, timeout=90, what=f"hub on {self.url} to be ready")
        except TimeoutError:
            tail = self.log_tail()
            raise AssertionError(f"hub on {self.url} not ready after 90 s; log:\n{tail}") from None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of what the process wrote: for a failure message."""
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    async def _ready(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def until(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    """Poll state owned by another process (there is no event to await across processes)."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - the state lives in another process
            await asyncio.sleep(0.1)
    _ = what
