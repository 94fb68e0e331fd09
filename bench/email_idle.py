"""IDLE delivery latency: a message appended to a real dovecot reaches the hub's IMAP worker's
callback how fast? Baseline in the same run: the APPEND round trip itself (imaplib).

    python -m bench.email_idle [--n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from channels.email_imap import ImapMailboxWorker, ImapSettings, InMemoryCheckpointStore
from tests.support.dovecot import Dovecot


def mail(n: int) -> bytes:
    return f"From: a@example.com\nSubject: {n}\nMessage-ID: <m{n}@example.com>\n\nhi {n}\n".encode()


async def measure(n: int) -> tuple[list[float], list[float]]:
    server = Dovecot(idle=True)
    server.start()
    arrived: dict[int, float] = {}
    events = {i: asyncio.Event() for i in range(n + 1)}

    async def on_message(raw: bytes, uid: int) -> None:
        arrived[uid] = time.perf_counter()
        events[uid - 1].set()

    settings = ImapSettings(
        host=server.host,
        port=server.port,
        username=server.user,
        password=server.password,
        use_ssl=False,
        poll_s=3600.0,
        idle_timeout_s=600.0,
    )
    worker = ImapMailboxWorker(settings, InMemoryCheckpointStore(), on_message)
    task = asyncio.create_task(worker.run())
    latencies, appends = [], []
    try:
        for i in range(n):
            await worker.idling.wait()
            started = time.perf_counter()
            await asyncio.to_thread(server.append, mail(i))
            appended = time.perf_counter()
            await asyncio.wait_for(events[i].wait(), 30)
            latencies.append(arrived[i + 1] - appended)
            appends.append(appended - started)
            worker.idling.clear()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.stop()
    return latencies, appends


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    latencies, appends = asyncio.run(measure(args.n))
    p50 = statistics.median(latencies) * 1000
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000
    base = statistics.median(appends) * 1000
    print(f"IDLE delivery after APPEND: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {args.n} mails")
    print(f"baseline APPEND round trip (imaplib): p50 {base:.1f} ms; ratio {p50 / base:.2f}")


if __name__ == "__main__":
    main()
