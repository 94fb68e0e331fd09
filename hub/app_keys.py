"""Typed aiohttp application keys (no string keys)."""

from __future__ import annotations

import socketio
from aiohttp import web

from agent_console.supervisor_namespace import SupervisorNamespace
from hub.context import Hub
from hub.demo import DemoLogin

HUB = web.AppKey("hub", Hub)
SIO = web.AppKey("sio", socketio.AsyncServer)
SUPERVISORS = web.AppKey("supervisors", SupervisorNamespace)
DEMO_LOGINS = web.AppKey("demo_logins", list[DemoLogin])
