"""/api/customers: search, create, update, the 360 view, notes, orders, merge, import, privacy."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hub.actions.erase_customer import erase_customer, export_customer_data
from hub.actions.merge_customers import merge_customers, unmerge_customers
from hub.actions.save_customer import add_note, add_order, save_customer
from hub.api.common import current_agent, hub_of, json_body, spreadsheet_safe
from hub.api.validation import parse
from hub.backoffice import refresh_backoffice
from hub.customer_import import import_customers
from hub.customer_profile import customer_360, customer_fields
from hub.customer_search import search_customers
from hub.errors import Invalid
from hub.models import AuditLog, Customer

MANAGERS = ("admin", "supervisor")
MAX_CSV_BYTES = 50 * 1024 * 1024


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: float
    currency: str = Field(default="USD", min_length=3, max_length=3)
    product: str = Field(default="", max_length=200)
    external_ref: str = Field(default="", max_length=100)
    ordered_at: datetime | None = None


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=5000)


class MergeIn(BaseModel):
    other_id: str = Field(min_length=1, max_length=32)


async def search(request: web.Request) -> web.Response:
    await current_agent(request)
    q = request.query.get("q", "")
    tag = request.query.get("tag") or None
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        raise Invalid("limit must be a number") from None
    hub = hub_of(request)
    async with hub.store.session() as session:
        found = await search_customers(
            session, q, tag=tag, region=hub.settings.default_region, limit=limit
        )
    return web.json_response({"customers": [customer_fields(c) for c in found]})


async def create(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    customer = await save_customer(hub_of(request), await json_body(request), actor=agent.username)
    return await _view(request, customer.id, status=201)


async def update(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    cid = request.match_info["customer_id"]
    await save_customer(
        hub_of(request), await json_body(request), customer_id=cid, actor=agent.username
    )
    return await _view(request, cid)


async def view(request: web.Request) -> web.Response:
    await current_agent(request)
    return await _view(request, request.match_info["customer_id"])


async def _view(request: web.Request, customer_id: str, status: int = 200) -> web.Response:
    async with hub_of(request).store.session() as session:
        return web.json_response(await customer_360(session, customer_id), status=status)


async def note(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = await parse(request, NoteIn)
    created = await add_note(
        hub_of(request),
        request.match_info["customer_id"],
        body.body,
        author_id=agent.id,
        author=agent.display_name or agent.username,
    )
    return web.json_response({"id": created.id}, status=201)


async def order(request: web.Request) -> web.Response:
    await current_agent(request, *MANAGERS)
    body = await parse(request, OrderIn)
    created = await add_order(
        hub_of(request), request.match_info["customer_id"], **body.model_dump()
    )
    return web.json_response({"id": created.id}, status=201)


async def merge(request: web.Request) -> web.Response:
    agent = await current_agent(request, *MANAGERS)
    body = await parse(request, MergeIn)
    merge_id = await merge_customers(
        hub_of(request), request.match_info["customer_id"], body.other_id, actor=agent.username
    )
    return web.json_response({"merge_id": merge_id})


async def unmerge(request: web.Request) -> web.Response:
    agent = await current_agent(request, *MANAGERS)
    await unmerge_customers(hub_of(request), request.match_info["merge_id"], actor=agent.username)
    return web.json_response({"ok": True})


async def import_csv(request: web.Request) -> web.Response:
    await current_agent(request, *MANAGERS)
    if request.content_length and request.content_length > MAX_CSV_BYTES:
        raise Invalid("the file is larger than 50 MB; use `python -m hub import-customers`")
    raw = await request.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8") from None
    dry_run = request.query.get("dry_run", "").lower() in ("1", "true", "yes")
    report = await import_customers(hub_of(request), text, dry_run=dry_run)
    return web.json_response(report.as_dict())


async def export_csv(request: web.Request) -> web.StreamResponse:
    caller = await current_agent(request, *MANAGERS)
    from sqlmodel import col, select

    async with hub_of(request).store.transaction() as session:
        session.add(AuditLog(actor=caller.username, action="customers.export", target="csv"))

    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="customers.csv"',
        }
    )
    await response.prepare(request)
    columns = ["id", "name", "kind", "tier", "lifetime_value", "company", "language", "tags"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    # A server-side cursor lives in a transaction (read sessions autocommit on PostgreSQL).
    async with hub_of(request).store.transaction() as session:
        result = await session.stream(
            select(Customer).where(col(Customer.merged_into_id).is_(None)).order_by(Customer.id)
        )
        async for (c,) in result:
            writer.writerow(
                [
                    c.id,
                    spreadsheet_safe(c.name),
                    c.kind,
                    c.tier,
                    c.lifetime_value,
                    spreadsheet_safe(c.company),
                    c.language,
                    ";".join(c.tags),
                ]
            )
            if buffer.tell() > 65_536:
                await response.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


async def export_data(request: web.Request) -> web.Response:
    caller = await current_agent(request, *MANAGERS)
    customer_id = request.match_info["customer_id"]
    data = await export_customer_data(hub_of(request), customer_id)
    async with hub_of(request).store.transaction() as session:
        session.add(AuditLog(actor=caller.username, action="customer.export", target=customer_id))
    return web.json_response(data)


async def erase(request: web.Request) -> web.Response:
    agent = await current_agent(request, "admin")
    await erase_customer(hub_of(request), request.match_info["customer_id"], actor=agent.username)
    return web.json_response({"ok": True})


async def backoffice_refresh(request: web.Request) -> web.Response:
    await current_agent(request)
    await refresh_backoffice(hub_of(request), request.match_info["customer_id"], force=True)
    return await _view(
        request,
        request.match_info["customer_id"],
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/customers", search)
    r.add_post("/api/customers", create)
    r.add_post("/api/customers/import", import_csv)
    r.add_get("/api/customers/export.csv", export_csv)
    r.add_get("/api/customers/{customer_id}", view)
    r.add_patch("/api/customers/{customer_id}", update)
    r.add_delete("/api/customers/{customer_id}", erase)
    r.add_get("/api/customers/{customer_id}/export", export_data)
    r.add_post("/api/customers/{customer_id}/notes", note)
    r.add_post("/api/customers/{customer_id}/orders", order)
    r.add_post("/api/customers/{customer_id}/merge", merge)
    r.add_post("/api/customers/{customer_id}/backoffice", backoffice_refresh)
    r.add_post("/api/merges/{merge_id}/undo", unmerge)
