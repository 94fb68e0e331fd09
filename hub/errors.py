"""A small error hierarchy, mapped to HTTP status and Socket.IO acks at the edge."""

from __future__ import annotations


class HubError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", **detail: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.detail = detail

    def to_dict(self) -> dict[str, object]:
        return {"ok": False, "error": self.code, "message": self.message, **self.detail}


class Invalid(HubError):
    status = 422
    code = "invalid"


class Unauthorized(HubError):
    status = 401
    code = "unauthorized"


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Conflict(HubError):
    status = 409
    code = "conflict"


class TooManyRequests(HubError):
    status = 429
    code = "rate_limited"


class Unavailable(HubError):
    status = 503
    code = "unavailable"
