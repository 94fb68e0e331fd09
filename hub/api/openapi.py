"""GET /api/openapi.json: the REST API described (a test keeps it equal to the routes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from hub.api.agents import AgentCreate, AgentUpdate
from hub.api.customers import MergeIn, NoteIn, OrderIn
from hub.api.queues import QueueCreate, QueueIn

Op = tuple[str, str, bool, type[BaseModel] | None, str]  # method, summary, auth, body, body type

OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/auth/login": {
        "post": ("post", "Log in: {username, password} -> {token, role}", False, None, "json")
    },
    "/api/auth/logout": {"post": ("post", "Revoke the bearer token", True, None, "")},
    "/api/agent/state": {
        "get": ("get", "The console snapshot of the calling agent", True, None, "")
    },
    "/api/agents": {
        "get": (
            "get",
            "Agents with status and load (agents: colleagues' names and status only)",
            True,
            None,
            "",
        ),
        "post": ("post", "Create an agent (admin)", True, AgentCreate, "json"),
    },
    "/api/agents/{agent_id}": {
        "patch": (
            "patch",
            "Update an agent (admin; a supervisor: agents only, no role changes)",
            True,
            AgentUpdate,
            "json",
        )
    },
    "/api/agents/{agent_id}/revoke-tokens": {
        "post": ("post", "Revoke every live token of an agent (admin)", True, None, "")
    },
    "/api/queues": {
        "get": ("get", "Queues with live figures", True, None, ""),
        "post": ("post", "Create a queue (supervisor, admin)", True, QueueCreate, "json"),
    },
    "/api/queues/{queue_id}": {
        "put": ("put", "Update an API-managed queue", True, QueueIn, "json")
    },
    "/api/customers": {
        "get": (
            "get",
            "Search: ?q= name, phone (any format), email; ?tag=; ?limit=",
            True,
            None,
            "",
        ),
        "post": ("post", "Create a customer (fields + identities)", True, None, "json"),
    },
    "/api/customers/import": {
        "post": (
            "post",
            "Import customers and orders from CSV (?dry_run=1 reports only)",
            True,
            None,
            "csv",
        )
    },
    "/api/customers/export.csv": {"get": ("get", "Export customers as CSV", True, None, "")},
    "/api/customers/{customer_id}": {
        "get": ("get", "The 360 view", True, None, ""),
        "patch": ("patch", "Update a customer", True, None, "json"),
        "delete": ("delete", "Erase a customer's personal data (admin)", True, None, ""),
    },
    "/api/customers/{customer_id}/export": {
        "get": ("get", "Everything held about the customer (privacy export)", True, None, "")
    },
    "/api/customers/{customer_id}/notes": {"post": ("post", "Add a note", True, NoteIn, "json")},
    "/api/customers/{customer_id}/orders": {
        "post": ("post", "Add an order", True, OrderIn, "json")
    },
    "/api/customers/{customer_id}/merge": {
        "post": ("post", "Merge another customer into this one", True, MergeIn, "json")
    },
    "/api/customers/{customer_id}/backoffice": {
        "post": ("post", "Refresh the back-office lookup now", True, None, "")
    },
    "/api/merges/{merge_id}/undo": {"post": ("post", "Undo a merge", True, None, "")},
    "/api/calls": {
        "get": ("get", "Call log: ?customer_id=, ?agent_id= (agents: their own)", True, None, "")
    },
    "/api/interactions/{interaction_id}": {
        "get": (
            "get",
            "One conversation with its messages (agents: their own, or finished in their queues)",
            True,
            None,
            "",
        )
    },
    "/api/reports": {
        "get": (
            "get",
            "History per day/queue/agent: ?from=&to= (UTC dates), ?by=day|queue|agent, "
            "?format=json|csv (supervisor, admin; CSV exports are audit-logged)",
            True,
            None,
            "",
        )
    },
    "/api/attachments/{attachment_id}": {
        "get": (
            "get",
            "A message's file, for whoever may open its interaction (images inline, others as "
            "downloads, nosniff, sandboxed)",
            True,
            None,
            "",
        )
    },
    "/api/openapi.json": {"get": ("get", "This document", False, None, "")},
}


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "error", "message"],
    "properties": {
        "ok": {"const": False},
        "error": {"type": "string"},
        "message": {"type": "string"},
    },
}
CREATES = {
    ("/api/agents", "post"),
    ("/api/queues", "post"),
    ("/api/customers", "post"),
    ("/api/customers/{customer_id}/notes", "post"),
    ("/api/customers/{customer_id}/orders", "post"),
}


def _schema(model: type[BaseModel], shared: dict[str, Any]) -> dict[str, Any]:
    """Nested models go to components/schemas, where a `$ref` from anywhere resolves."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    shared.update(schema.pop("$defs", {}))
    return schema


def _operation(op: Op, path: str, shared: dict[str, Any]) -> dict[str, Any]:
    method, summary, auth, body, kind = op
    out: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "OK"},
            "4XX": {
                "description": "{ok: false, error, message}",
                "content": {"application/json": {"schema": ERROR_SCHEMA}},
            },
        },
        "parameters": [
            {"name": seg.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for seg in path.split("/")
            if seg.startswith("{")
        ],
    }
    if (path, method) in CREATES:
        out["responses"]["201"] = out["responses"].pop("200") | {"description": "Created"}
    if auth:
        out["security"] = [{"bearer": []}]
    if kind == "json":
        schema = _schema(body, shared) if body else {"type": "object"}
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    elif kind == "csv":
        out["requestBody"] = {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    return out


def document() -> dict[str, Any]:
    shared: dict[str, Any] = {}
    paths = {
        path: {m: _operation(op, path, shared) for m, op in ops.items()}
        for path, ops in OPERATIONS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "crmhub", "version": "0.1.0"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": shared,
        },
        "paths": paths,
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
