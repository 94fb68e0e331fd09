"""Customer scale on PostgreSQL: import N customers through the real CSV importer (timed), then
search p50/p99 over name substrings (Latin and Chinese), phones in any format and emails.
A baseline in the same run: the same name search with the trigram index dropped (sequential scan).

    python -m bench.customers_scale --customers 1000000 --import-rows 100000
    (needs CRMHUB_BENCH_PG, default postgresql+asyncpg://postgres@127.0.0.1:5432/<fresh db>)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time
from datetime import UTC, datetime

import asyncpg

from hub.app import build_hub
from hub.customer_import import import_customers
from hub.customer_search import search_customers
from hub.settings import Settings

SURNAMES = ["Smith", "Müller", "García", "Rossi", "Novak", "Kowalski", "Dubois", "王", "李", "张"]
GIVEN = ["Ann", "Ben", "Chloé", "Dev", "Eva", "Finn", "Gia", "小龙", "明", "静"]


def name(rng: random.Random, n: int) -> str:
    return f"{rng.choice(GIVEN)} {rng.choice(SURNAMES)} {n}"


async def bulk_load(dsn: str, count: int) -> None:
    """The bulk of the million rows goes in with COPY (the importer is timed separately)."""
    rng = random.Random(1)
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        customers, identities = [], []
        for n in range(count):
            cid = secrets.token_hex(12)
            nm = name(rng, n)
            customers.append(
                (
                    cid,
                    nm,
                    nm.casefold(),
                    "person",
                    "standard",
                    0.0,
                    "[]",
                    "",
                    "",
                    "",
                    "",
                    "[]",
                    "{}",
                    "{}",
                    now,
                    now,
                    "",
                    "{}",
                    False,
                    "[]",
                )
            )
            identities.append(
                (secrets.token_hex(12), cid, "phone", f"+1{2000000000 + n}", "known", now)
            )
            identities.append(
                (secrets.token_hex(12), cid, "email", f"user{n}@example.com", "known", now)
            )
        cols = [
            "id",
            "name",
            "search_name",
            "kind",
            "tier",
            "lifetime_value",
            "tier_reasons",
            "company",
            "language",
            "timezone",
            "address",
            "tags",
            "preferences",
            "consent",
            "created_at",
            "updated_at",
            "contact_person",
            "rfm",
            "churn_risk",
            "churn_reasons",
        ]
        await conn.copy_records_to_table("customers", records=customers, columns=cols)
        await conn.copy_records_to_table(
            "customer_identities",
            records=identities,
            columns=["id", "customer_id", "kind", "value", "confidence", "created_at"],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def searches(hub, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        async with hub.store.session() as session:
            started = time.perf_counter()
            await search_customers(session, q, limit=20)
            out.append(time.perf_counter() - started)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def main(customers: int, import_rows: int) -> None:
    admin = os.environ.get("CRMHUB_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
    db = f"crmhub_bench_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{db}"')
    await conn.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
    hub = build_hub(Settings(database_url=url, redis_url=""))
    try:
        await hub.store.migrate()
        rows = ["name,phone,email,tags,order_amount,order_date"]
        rng = random.Random(2)
        for n in range(import_rows):
            rows.append(
                f"{name(rng, n)},+1{3000000000 + n},imp{n}@example.org,vip;x,"
                f"{rng.randint(1, 900)},2026-0{1 + n % 9}-1{n % 9}"
            )
        started = time.perf_counter()
        report = await import_customers(hub, "\n".join(rows) + "\n")
        import_s = time.perf_counter() - started
        print(
            f"import of {import_rows:,} customers with orders: {import_s:.1f} s "
            f"({import_rows / import_s:,.0f} rows/s), errors {len(report.errors)}"
        )
        started = time.perf_counter()
        await bulk_load(url.replace("+asyncpg", ""), customers - import_rows)
        print(
            f"bulk COPY of {customers - import_rows:,} more customers: "
            f"{time.perf_counter() - started:.1f} s"
        )
        qrng = random.Random(3)
        queries = []
        for _ in range(200):
            n = qrng.randrange(customers - import_rows)
            queries += [
                f"{qrng.choice(SURNAMES)} {n}",
                f"({str(2000000000 + n)[:3]}) {str(2000000000 + n)[3:6]}-{str(2000000000 + n)[6:]}",
                f"user{n}@example.com",
                f"小龙 王 {n}",
            ]
        await searches(hub, queries[:50])  # warm up
        times = await searches(hub, queries)
        print(
            f"search over {customers:,} customers ({len(queries)} queries): "
            f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {pct(times, 0.99) * 1000:.1f} ms"
        )
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        await conn.execute("DROP INDEX ix_customers_search_name_trgm")
        await conn.close()
        base = await searches(hub, queries[:40])
        print(
            f"baseline without the trigram index: p50 {statistics.median(base) * 1000:.1f} ms "
            f"(indexed search is {statistics.median(base) / statistics.median(times):.0f}x "
            f"faster)"
        )
    finally:
        await hub.store.close()
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    ns = parser.parse_args()
    asyncio.run(main(ns.customers, ns.import_rows))
