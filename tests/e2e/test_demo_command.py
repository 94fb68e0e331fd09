"""The README's first command ends in `python -m hub demo`: it must start, print the console URL
and demo logins that really work."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_demo_prints_the_console_and_working_logins(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CRMHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "CRMHUB_PORT": str(port),
        "CRMHUB_REDIS_URL": "",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "demo",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while not any(line.strip().startswith("sam") for line in lines):
                raw = await proc.stdout.readline()
                assert raw, "the hub exited early:\n" + "".join(lines)
                lines.append(raw.decode())
        out = "".join(lines)
        assert f"http://127.0.0.1:{port}/console/" in out
        assert "garbage collector: thresholds (50000, 20, 10)" in out  # hub/gc_tuning.py
        assert "event loop: uvloop" in out  # installed here, so the default (hub/event_loop.py)
        match = re.search(r"^\s+alice\s+(\S+)\s+\(agent\)", out, re.MULTILINE)
        assert match, out
        async with aiohttp.ClientSession() as http:
            resp = await http.post(
                f"http://127.0.0.1:{port}/api/auth/login",
                json={"username": "alice", "password": match.group(1)},
            )
            assert resp.status == 200
            page = await http.get(f"http://127.0.0.1:{port}/console/")
            assert page.status == 200
    finally:
        proc.terminate()
        await proc.wait()
