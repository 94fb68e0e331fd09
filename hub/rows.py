"""Rows with the models' defaults, for Core inserts on the hot paths.

Constructing a SQLModel entity and flushing it through the unit of work cost more than the
INSERT itself; a burst of webhooks inserts four rows per contact (customer, identity,
interaction, message). `new_row` fills what a model's field defaults would (new ids, times, empty
JSON), read once per model, so the dict can go to `insert(table)` with executemany.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlmodel import SQLModel


@cache
def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
    out: list[tuple[str, Any, Callable[[], Any] | None]] = []
    for name, info in model.model_fields.items():
        if name not in columns:
            continue
        factory = info.default_factory  # the models' factories take no argument
        if factory is None and info.default is PydanticUndefined:
            continue  # required: the caller gives it (or the INSERT fails loudly)
        out.append((name, info.default, factory))  # type: ignore[arg-type]
    return tuple(out)


def new_row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Every column `model` would default, overridden by `values`."""
    row = {
        name: factory() if factory is not None else default
        for name, default, factory in _defaults(model)
    }
    row.update(values)
    return row
