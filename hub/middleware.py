"""Edge middleware: HubError -> JSON status, security headers on every response, request timing."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from channels.base import ChannelError, SignatureError
from hub.app_keys import HUB
from hub.availability import RETRY_AFTER_S, unavailable
from hub.errors import Forbidden, HubError, Invalid

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def service_unavailable(message: str) -> web.Response:
    """503 + Retry-After: Twilio and PBXs retry; nothing was half-written (one transaction)."""
    return web.json_response(
        {"ok": False, "error": "unavailable", "message": message},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        declared = request.content_length
        if declared is not None and declared > request.client_max_size:
            # Refused before any handler runs, even one that never reads its body.
            raise web.HTTPRequestEntityTooLarge(
                max_size=request.client_max_size, actual_size=declared
            )
        return await handler(request)
    except HubError as exc:
        return web.json_response(exc.to_dict(), status=exc.status)
    except ChannelError as exc:  # an adapter refused untrusted provider input
        error = Forbidden(str(exc)) if isinstance(exc, SignatureError) else Invalid(str(exc))
        return web.json_response(error.to_dict(), status=error.status)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(("/api/", "/webhooks/")):
            return web.json_response(
                {"ok": False, "error": exc.reason.lower().replace(" ", "_"), "message": exc.reason},
                status=exc.status,
            )
        raise
    except Exception as exc:
        if not unavailable(exc):
            raise
        log.warning("%s %s: dependency unavailable (%s)", request.method, request.path, exc)
        return service_unavailable("a backing service is unavailable; retry shortly")


@web.middleware
async def admission(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bounded work: past `max_inflight_requests` concurrent API/webhook requests the hub answers
    503 + Retry-After at once instead of queueing without bound (memory stays flat)."""
    if not request.path.startswith(("/api/", "/webhooks/")):
        return await handler(request)
    hub = request.app[HUB]
    if hub.inflight >= hub.settings.max_inflight_requests:
        hub.metrics.rejected.inc()
        return service_unavailable("the hub is overloaded; retry shortly")
    hub.inflight += 1
    try:
        return await handler(request)
    finally:
        hub.inflight -= 1


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # On every response: a FileResponse only learns its content type when it is sent.
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@web.middleware
async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[HUB].metrics.http.labels(name, str(status)).observe(
            time.perf_counter() - started
        )


MIDDLEWARES = [timing, security_headers, errors, admission]
