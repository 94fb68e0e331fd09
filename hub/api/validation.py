"""Parse a JSON body into a pydantic model, turning validation errors into a 422 HubError."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.api.common import json_body
from hub.errors import Invalid

M = TypeVar("M", bound=BaseModel)


async def parse(request: web.Request, model: type[M]) -> M:
    data = await json_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors()[:20]
        ]
        raise Invalid("the request body is not valid", problems=problems) from None
