"""Is this exception a dependency that is down (503, retry) rather than a bug (500)?"""

from __future__ import annotations

import redis.exceptions as redis_exc
import sqlalchemy.exc as sa_exc

RETRY_AFTER_S = 5
UNAVAILABLE = {"ok": False, "error": "unavailable", "message": "please retry in a few seconds"}


def unavailable(exc: BaseException) -> bool:
    """A dependency is down or unreachable (not a bug in the request): Redis refused, the
    database restarting, a connection reset or timed out, SQLite's writer lock held too long."""
    if isinstance(exc, redis_exc.ConnectionError | redis_exc.TimeoutError | OSError | TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return not isinstance(
            exc, sa_exc.IntegrityError | sa_exc.ProgrammingError | sa_exc.DataError
        )
    return isinstance(exc, sa_exc.TimeoutError)  # the connection pool is exhausted
