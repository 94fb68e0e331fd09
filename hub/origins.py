"""Which browser origins may open sockets to the hub."""

from __future__ import annotations

from typing import Any

from hub.settings import Settings


def same_origin(settings: Settings, origin: str, environ: dict[str, Any]) -> bool:
    """The hub's own pages (same host) or the public base URL."""
    host = environ.get("HTTP_HOST", "")
    same = {f"http://{host}", f"https://{host}"} if host else set()
    return origin == settings.public_base_url.rstrip("/") or origin in same
