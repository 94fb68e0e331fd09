"""Baselines for B1, in their own process like the hub: `hello` answers at once; `signature`
parses the form and checks the Twilio signature, nothing more."""

from __future__ import annotations

import sys

from aiohttp import web
from twilio.request_validator import RequestValidator

from hub import gc_tuning
from hub.event_loop import loop_factory
from hub.settings import load_settings


def main() -> None:
    mode, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    validator = RequestValidator(token)

    async def ready(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="<Response/>", content_type="text/xml")

    async def signature(request: web.Request) -> web.Response:
        form = await request.post()
        url = f"http://127.0.0.1:{port}{request.path}"
        ok = validator.validate(url, dict(form), request.headers.get("X-Twilio-Signature", ""))
        if not ok:
            return web.Response(status=403)
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_post("/webhooks/twilio/sms", hello if mode == "hello" else signature)
    gc_tuning.tune()  # as the hub tunes its collector: like against like
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        loop=loop_factory(load_settings())(),  # the hub's loop: like against like
    )


if __name__ == "__main__":
    main()
