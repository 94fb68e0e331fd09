"""Helpers every handler uses: the hub, the caller's bearer token, a bounded JSON body."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from hub.app_keys import HUB
from hub.auth import agent_for_token, require_role
from hub.context import Hub
from hub.errors import Invalid
from hub.models import Agent


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_agent(request: web.Request, *roles: str) -> Agent:
    agent = await agent_for_token(hub_of(request), bearer(request))
    return require_role(agent, *roles) if roles else agent


async def json_body(request: web.Request) -> dict[str, Any]:
    return parse_json_object(await request.read())


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object, or 422: broken syntax, bad UTF-8, nesting deeper than the parser's stack,
    or lone surrogates (valid JSON escapes that no database or socket can encode later)."""
    try:
        data = json.loads(body)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecode/EncodeError
        raise Invalid("the body must be JSON") from None
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


async def form_body(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The POSTed form, or 422 for bad UTF-8, a multipart body without boundary or names."""
    try:
        return await request.post()
    except ValueError:
        raise Invalid("the body must be a form (application/x-www-form-urlencoded)") from None


def client_address(request: web.Request) -> str:
    return request.remote or ""


def spreadsheet_safe(text: str) -> str:
    """Spreadsheet formula injection: a CSV cell never starts with = + - @ (or a tab/CR)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
