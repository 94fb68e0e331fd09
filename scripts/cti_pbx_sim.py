"""Play a PBX: post realistic Zammad-style generic CTI events to a hub.

    python scripts/cti_pbx_sim.py http://127.0.0.1:8080 <cti_token> --from +4930123456 --user alice

Sequences: an answered call (newCall, answer, hangup), a missed call (newCall, hangup with
cause cancel) and, with --replay, a newCall posted twice (the hub answers both, stores one).
A blocked caller: pass --from with a number listed in `cti.blocked_numbers`; newCall then answers
{"action": "reject", "reason": "busy"}. Form-encoded exactly like the Asterisk / FreeSWITCH
scripts written for Zammad (`user[]` repeated for several agents). Prints (status, JSON) pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from typing import Any

import aiohttp


async def post(http: aiohttp.ClientSession, url: str, form: list[tuple[str, str]]) -> Any:
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.json(content_type=None)


def event(
    kind: str, call_id: str, caller: str, callee: str, users: list[str], **extra: str
) -> list[tuple[str, str]]:
    form = [
        ("event", kind),
        ("direction", "in"),
        ("callId", call_id),
        ("from", caller),
        ("to", callee),
    ]
    form += [("user[]", u) for u in users]
    form += list(extra.items())
    return form


async def answered_call(
    http: aiohttp.ClientSession, url: str, caller: str, users: list[str], answering: str = ""
) -> list[Any]:
    call_id = secrets.token_hex(8)
    out = [await post(http, url, event("newCall", call_id, caller, "+4930999", users))]
    out.append(
        await post(
            http,
            url,
            event("answer", call_id, caller, "+4930999", users, answeringNumber=answering),
        )
    )
    out.append(
        await post(
            http, url, event("hangup", call_id, caller, "+4930999", users, cause="normalClearing")
        )
    )
    return out


async def missed_call(
    http: aiohttp.ClientSession, url: str, caller: str, users: list[str]
) -> list[Any]:
    call_id = secrets.token_hex(8)
    return [
        await post(http, url, event("newCall", call_id, caller, "+4930999", users)),
        await post(http, url, event("hangup", call_id, caller, "+4930999", users, cause="cancel")),
    ]


async def replayed_call(
    http: aiohttp.ClientSession, url: str, caller: str, users: list[str]
) -> list[Any]:
    call_id = secrets.token_hex(8)
    form = event("newCall", call_id, caller, "+4930999", users)
    return [await post(http, url, form), await post(http, url, form)]


async def main() -> None:
    parser = argparse.ArgumentParser(description="Post Zammad-style generic CTI events to a hub.")
    parser.add_argument("hub", help="the hub's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("token", help="the hub's cti_token")
    parser.add_argument("--from", dest="caller", default="+4930123456", help="the caller")
    parser.add_argument("--user", action="append", default=[], help="agent (repeatable)")
    parser.add_argument("--answering", default="", help="answeringNumber on answer")
    parser.add_argument("--replay", action="store_true", help="also post a newCall twice")
    args = parser.parse_args()
    url = f"{args.hub.rstrip('/')}/webhooks/cti/{args.token}"
    async with aiohttp.ClientSession() as http:
        print("answered:", await answered_call(http, url, args.caller, args.user, args.answering))
        print("missed:  ", await missed_call(http, url, args.caller, args.user))
        if args.replay:
            print("replayed:", await replayed_call(http, url, args.caller, args.user))


if __name__ == "__main__":
    asyncio.run(main())
