"""Named crash points for the fault tests (tests/faults/): the process kills itself with SIGKILL
the Nth time it reaches a point, so a test can stop it *exactly* between two steps (after the
commit, before the publish), which an outside `kill -9` can only hit by luck.

Off unless CRMHUB_FAILPOINTS is set, e.g. `tx.committed=12,send.returned=1`; reaching a point
then costs one dict lookup.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

POINTS = (
    "tx.committed",  # a transaction committed, its events not yet on the bus
    "console.before_emit",  # an event read from the bus, not yet emitted to consoles
    "send.before",  # an outbound message claimed, the provider not yet called
    "send.returned",  # the provider accepted the message, the outcome not yet recorded
)


def _parse(spec: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("=")
        if name not in POINTS:
            raise ValueError(f"unknown failpoint {name!r} (known: {', '.join(POINTS)})")
        out[name] = int(count or "1")
    return out


_armed = _parse(os.environ.get("CRMHUB_FAILPOINTS", ""))


def reach(name: str) -> None:
    if not _armed or name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] <= 0:
        log.critical("failpoint %s reached: killing this process (SIGKILL)", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
