"""CSV import of customers (and their orders): a dry run reports every bad line, nothing stored.

Columns (header names, any order; only `name` or one identity is required): name, kind, company,
contact_person, phone, phones (`;`-separated), email, emails, language, timezone, address, tags
(`;`), external_id, order_amount, order_currency, order_date, order_product, order_ref.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from hub.context import Hub
from hub.customer_value import recompute_rfm, recompute_values_bulk
from hub.customers import normalize_identity
from hub.models import Customer, CustomerIdentity, Order

MAX_ROWS = 1_000_000
BATCH = 1000
KINDS = ("person", "household", "enterprise")


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    orders: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "orders": self.orders,
            "errors": self.errors[:1000],
            "error_count": len(self.errors),
            "dry_run": self.dry_run,
        }


@dataclass
class Row:
    line: int
    name: str
    kind: str
    fields: dict[str, str]
    identities: list[tuple[str, str]]
    tags: list[str]
    order: dict[str, Any] | None


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def parse_row(line: int, raw: dict[str, str], region: str) -> Row:
    get = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}.get
    identities: list[tuple[str, str]] = []
    for kind, keys in (("phone", ("phone", "phones")), ("email", ("email", "emails"))):
        for key in keys:
            for value in _split(get(key) or ""):
                normalized = normalize_identity(kind, value, region)
                if normalized is None:
                    raise ValueError(f"unreadable {kind} {value[:40]!r}")
                identities.append((kind, normalized))
    if get("external_id"):
        identities.append(("external", (get("external_id") or "")[:320]))
    name = (get("name") or "")[:200]
    if not name and not identities:
        raise ValueError("a name or a phone / email is required")
    kind = get("kind") or "person"
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    order = None
    if get("order_amount"):
        try:
            amount = float(get("order_amount") or "")
            date = datetime.fromisoformat(get("order_date") or "1970-01-01")
        except ValueError:
            raise ValueError("order_amount must be a number and order_date an ISO date") from None
        order = {
            "amount": amount,
            "currency": (get("order_currency") or "USD").upper()[:3],
            "ordered_at": date if date.tzinfo else date.replace(tzinfo=UTC),
            "product": (get("order_product") or "")[:200],
            "external_ref": (get("order_ref") or "")[:100],
        }
    fields = {
        k: (get(k) or "")[:500]
        for k in ("company", "contact_person", "language", "timezone", "address")
        if get(k)
    }
    return Row(line, name, kind, fields, identities, _split(get("tags") or ""), order)


def read_rows(data: str, region: str, report: ImportReport) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(data))
    for raw in reader:
        report.rows += 1
        if report.rows > MAX_ROWS:
            report.errors.append({"line": reader.line_num, "error": "too many rows"})
            return
        try:
            yield parse_row(reader.line_num, raw, region)
        except ValueError as exc:
            report.errors.append({"line": reader.line_num, "error": str(exc)})


async def import_customers(
    hub: Hub,
    data: str,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Customers matched by any identity are updated, others created; batches of 1,000 rows."""
    report = ImportReport(dry_run=dry_run)
    batch: list[Row] = []
    for row in read_rows(data, hub.settings.default_region, report):
        batch.append(row)
        if len(batch) >= BATCH:
            await _store(hub, batch, report, dry_run)
            batch = []
            if progress:
                progress(report.rows)
    if batch:
        await _store(hub, batch, report, dry_run)
    if report.orders and not dry_run:
        async with hub.store.transaction() as session:
            await recompute_rfm(session, hub.now())
    if progress:
        progress(report.rows)
    return report


class _RollBack(Exception):
    """Raised at the end of a dry-run batch so its transaction rolls back."""


async def _store(hub: Hub, rows: list[Row], report: ImportReport, dry_run: bool) -> None:
    with contextlib.suppress(_RollBack):
        await _store_batch(hub, rows, report, dry_run)


async def _store_batch(hub: Hub, rows: list[Row], report: ImportReport, dry_run: bool) -> None:
    values = {v for r in rows for _, v in r.identities}
    async with hub.store.transaction() as session:
        known = {
            (i.kind, i.value): i.customer_id
            for i in (
                await session.exec(
                    select(CustomerIdentity).where(CustomerIdentity.value.in_(values))  # type: ignore[attr-defined]
                )
            ).all()
        }
        touched: dict[str, Customer] = {}
        for row in rows:
            ids = {known[i] for i in row.identities if i in known}
            if len(ids) > 1:
                report.errors.append(
                    {
                        "line": row.line,
                        "error": "identities belong to different customers; merge first",
                    }
                )
                continue
            customer = await _customer(session, ids, row, touched)
            if customer is None:
                report.created += 1
                customer = Customer(
                    name=row.name or row.identities[0][1], kind=row.kind, tags=row.tags
                )
                for key, value in row.fields.items():
                    setattr(customer, key, value)
                session.add(customer)
            else:
                report.updated += 1
                customer.tags = sorted(set(customer.tags) | set(row.tags))
                for key, value in row.fields.items():
                    setattr(customer, key, value)
            touched[customer.id] = customer
            for ident in row.identities:
                if ident not in known:
                    known[ident] = customer.id
                    session.add(
                        CustomerIdentity(customer_id=customer.id, kind=ident[0], value=ident[1])
                    )
            if row.order is not None:
                report.orders += 1
                session.add(Order(customer_id=customer.id, **row.order))
        await session.flush()
        await recompute_values_bulk(
            session, list(touched.values()), hub.settings.customers, hub.now()
        )
        if dry_run:
            raise _RollBack


async def _customer(
    session: Any, ids: set[str], row: Row, touched: dict[str, Customer]
) -> Customer | None:
    if not ids:
        return None
    (customer_id,) = ids
    return touched.get(customer_id) or await session.get(Customer, customer_id)
