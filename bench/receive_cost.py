"""Micro-benchmark of the receive batch for one contact at a time: a chat line from a known
visitor whose conversation is assigned (B2's every message) and an SMS from a new number (B1's),
through `do_receive_batch` in a transaction, in-process, median of N; with the time the driver
spent executing statements, so what is SQL and what is the Python around it can be told apart.

Steadier than B2 on a shared 2-core VM (no sockets, no load generator), so it is the figure to
compare before and after a change to the receive path:

    python -m bench.receive_cost [--db sqlite|postgres] [-n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from sqlalchemy import event

from bench.console_payloads import database
from channels.base import InboundContact
from channels.web_chat import Visitor, chat_contact
from hub.actions.receive_batch import Pending, do_receive_batch
from hub.app import build_hub
from hub.models import Customer, CustomerIdentity, Interaction
from hub.settings import load_settings


def chat_line(k: int) -> InboundContact:
    visitor = Visitor(visitor_id="bench-visitor", identity_kind="chat", identity="bench-visitor")
    return chat_contact(visitor, f"line {k}", max_chars=2000)


def new_sms(k: int) -> InboundContact:
    return InboundContact(
        channel="sms",
        provider_ref=f"SM{k:032d}",
        sender=f"+1555{k:07d}",
        recipient="+15550000000",
        body=f"message {k}",
    )


async def run(db: str, n: int) -> dict[str, tuple[float, float]]:
    """name -> (median microseconds per receive, median microseconds of SQL execution)."""
    hub = build_hub(load_settings(database_url=await database(db)))
    await hub.store.migrate()
    sql = [0.0, 0.0]  # [started, total]

    def began(*_: Any) -> None:
        sql[0] = time.perf_counter()

    def ended(*_: Any) -> None:
        sql[1] += time.perf_counter() - sql[0]

    engine = hub.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", began)
    event.listen(engine, "after_cursor_execute", ended)
    async with hub.store.transaction() as s:
        c = Customer(name="Visitor")
        s.add(c)
        s.add(CustomerIdentity(customer_id=c.id, kind="chat", value="bench-visitor"))
        s.add(Interaction(customer_id=c.id, channel="chat", state="assigned", queue_id="default"))
    figures: dict[str, tuple[float, float]] = {}
    try:
        for name, contact in (
            ("chat line, known visitor", chat_line),
            ("SMS, new number", new_sms),
        ):
            spent, in_sql = [], []
            for k in range(n + n // 5):  # the first fifth warms up
                item = Pending(contact(k), "default")
                sql[1] = 0.0
                started = time.perf_counter()
                async with hub.transaction() as tx:
                    await do_receive_batch(hub, tx, [item])
                if k >= n // 5:
                    spent.append(time.perf_counter() - started)
                    in_sql.append(sql[1])
            figures[name] = (statistics.median(spent) * 1e6, statistics.median(in_sql) * 1e6)
    finally:
        await hub.store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receive_cost")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    for name, (us, sql_us) in asyncio.run(run(args.db, args.n)).items():
        print(f"{args.db:<8} {name:<26} median {us:.0f} us, SQL {sql_us:.0f} us (n={args.n})")


if __name__ == "__main__":
    main()
