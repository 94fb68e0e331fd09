"""Count the SQL statements a block of code sends (the cost the benchmarks care about)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from hub.store import Store


@contextmanager
def counting(store: Store) -> Iterator[list[str]]:
    """Yields the list the statements are appended to, as they are sent."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engines = {store.engine.sync_engine, store.fanout_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
