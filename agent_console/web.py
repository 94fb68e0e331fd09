"""Static console pages. socket.io-client is served from node_modules (installed by npm), no CDN."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
ROOT = Path(__file__).resolve().parent.parent
VENDOR = {
    "socket.io.min.js": ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js",
    "chart.umd.min.js": ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
}


async def console_index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})


async def console_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


async def vendor(request: web.Request) -> web.StreamResponse:
    path = VENDOR.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    if not path.exists():
        return web.Response(status=503, text="run `npm ci` to install the console's libraries")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


async def widget(request: web.Request) -> web.StreamResponse:
    """The embeddable chat widget: any website may load it."""
    return web.FileResponse(
        STATIC / "widget.js",
        headers={
            "Cache-Control": "public, max-age=300",
            "Access-Control-Allow-Origin": "*",
            "Content-Type": "application/javascript; charset=utf-8",
        },
    )


async def widget_vendor(request: web.Request) -> web.StreamResponse:
    path = VENDOR["socket.io.min.js"]
    if not path.exists():
        return web.Response(status=503, text="run `npm ci` to install the widget's libraries")
    return web.FileResponse(
        path, headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
    )


async def supervisor_index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "supervisor.html", headers={"Cache-Control": "no-cache"})


async def supervisor_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/supervisor/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/supervisor", supervisor_root)
    app.router.add_get("/supervisor/", supervisor_index)
    app.router.add_get("/widget.js", widget)
    app.router.add_get("/widget/socket.io.min.js", widget_vendor)
    app.router.add_get("/", console_root)
    app.router.add_get("/console", console_root)
    app.router.add_get("/console/", console_index)
    app.router.add_get("/console/vendor/{name}", vendor)
    app.router.add_static("/console/static/", STATIC, show_index=False)
