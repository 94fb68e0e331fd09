"""GET /api/reports: historical figures per day, queue or agent, as JSON or a CSV download.
Supervisors and admins only; every CSV export is written to the audit log."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from hub.api.common import current_agent, hub_of, spreadsheet_safe
from hub.models import AuditLog
from hub.reports import COLUMNS, parse_range, report


async def reports(request: web.Request) -> web.Response:
    caller = await current_agent(request, "supervisor", "admin")
    hub = hub_of(request)
    first, last = parse_range(request.query.get("from"), request.query.get("to"), hub.now().date())
    by = request.query.get("by", "day")
    async with hub.store.report_session() as session:  # off the loop's thread on SQLite
        rows = await report(session, first, last, by)
    if request.query.get("format", "json") != "csv":
        return web.json_response(
            {"from": first.isoformat(), "to": last.isoformat(), "by": by, "rows": rows}
        )
    async with hub.store.transaction() as session:
        session.add(
            AuditLog(
                actor=caller.username,
                action="report.export",
                target=f"{by}:{first.isoformat()}..{last.isoformat()}",
                detail={"rows": len(rows)},
            )
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else spreadsheet_safe(str(row[c])) for c in COLUMNS])
    name = f"crmhub-{by}-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        body=buffer.getvalue().encode(),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/reports", reports)
