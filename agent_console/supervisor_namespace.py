"""Socket.IO namespace /supervisor: supervisors and admins only; the board is pushed to them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import socketio

from hub.auth import agent_for_token
from hub.board import board
from hub.context import Hub
from hub.errors import Forbidden, HubError
from hub.origins import same_origin

SUPERVISOR_NS = "/supervisor"
ROOM = "supervisors"


class SupervisorNamespace(socketio.AsyncNamespace):
    def __init__(self, hub: Hub) -> None:
        super().__init__(SUPERVISOR_NS)
        self.hub = hub
        self.watchers = 0
        self._last = ""

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        origin = environ.get("HTTP_ORIGIN")
        try:
            if origin and not same_origin(self.hub.settings, origin, environ):
                raise Forbidden("wrong origin")
            token = auth.get("token") if isinstance(auth, dict) else None
            agent = await agent_for_token(self.hub, token if isinstance(token, str) else None)
            if agent.role not in ("supervisor", "admin"):
                raise Forbidden("the supervisor board needs the supervisor role")
        except HubError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.to_dict()) from None
        await self.enter_room(sid, ROOM)
        self.watchers += 1
        async with self.hub.store.session() as session:
            await self.emit("board", await board(session, self.hub.now()), to=sid)

    async def on_disconnect(self, sid: str, *_: Any) -> None:
        self.watchers = max(0, self.watchers - 1)

    async def push(self) -> None:
        """Called by a throttled loop (every 2 s): one aggregate for every watcher, and only when
        something changed; never one refetch per event."""
        if not self.watchers:
            return
        async with self.hub.store.session() as session:
            data = await board(session, self.hub.now())
        stable = {k: v for k, v in data.items() if k not in ("at", "agents")}
        stable["agents"] = [
            {k: v for k, v in a.items() if k != "in_state_s"} for a in data["agents"]
        ]
        digest = hashlib.sha256(
            json.dumps(stable, sort_keys=True, default=str).encode()
        ).hexdigest()
        if digest != self._last:
            self._last = digest
            await self.emit("board", data, room=ROOM)
