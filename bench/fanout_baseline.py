"""B2's baseline, in its own process like the hub: a raw python-socketio server that relays each
visitor message to its agent's room and pushes a running count to the supervisors every 2 s.
No storage, no routing, no auth: the floor any Socket.IO fan-out in Python can reach here.

`python -m bench.fanout_baseline PORT`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio
from aiohttp import web

from hub import gc_tuning
from hub.event_loop import loop_factory
from hub.settings import load_settings


def build() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)
    relayed = 0

    @sio.on("connect", namespace="/chat")
    async def visitor(sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        await sio.save_session(sid, {"agent": int((auth or {}).get("agent", 0))}, namespace="/chat")
        await sio.emit("history", {"messages": []}, to=sid, namespace="/chat")

    @sio.on("message", namespace="/chat")
    async def message(sid: str, data: Any = None) -> dict[str, Any]:
        nonlocal relayed
        session = await sio.get_session(sid, namespace="/chat")
        body = data.get("body", "") if isinstance(data, dict) else ""
        await sio.emit(
            "message.created", {"body": body}, room=f"agent:{session['agent']}", namespace="/agent"
        )
        relayed += 1
        return {"ok": True}

    @sio.on("connect", namespace="/agent")
    async def agent(sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, f"agent:{int((auth or {}).get('agent', 0))}", namespace="/agent")

    @sio.on("connect", namespace="/supervisor")
    async def supervisor(sid: str, _environ: dict[str, Any], _auth: Any = None) -> None:
        await sio.enter_room(sid, "supervisors", namespace="/supervisor")

    async def board() -> None:
        while True:
            await asyncio.sleep(2)
            # Shaped like the hub's board traffic: the count of the visitors' messages.
            traffic = [{"channel": "chat", "in_today": relayed}]
            await sio.emit(
                "board", {"traffic": traffic}, room="supervisors", namespace="/supervisor"
            )

    async def start_board(app: web.Application) -> None:
        app["board"] = asyncio.create_task(board())

    app.on_startup.append(start_board)
    return app


def main() -> None:
    gc_tuning.tune()  # as the hub tunes its collector: like against like
    web.run_app(
        build(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
        loop=loop_factory(load_settings())(),  # the hub's loop: like against like
    )


if __name__ == "__main__":
    main()
