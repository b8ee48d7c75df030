"""One error type for the whole project (CONVENTIONS "Errors").

Services raise ``ApplicationError``; views turn it into the SPEC's JSON error body,
consumers into an ``error`` frame or a close code.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class ValidationFailed(ApplicationError):
    status = 400
    default_code = "validation_error"


class NotAuthenticated(ApplicationError):
    status = 401
    default_code = "not_authenticated"


class Forbidden(ApplicationError):
    status = 403
    default_code = "forbidden"


class NotFound(ApplicationError):
    status = 404
    default_code = "not_found"


class InvalidTransition(ApplicationError):
    status = 409
    default_code = "invalid_transition"


class RateLimited(ApplicationError):
    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, extra={"retry_after": retry_after})
        self.retry_after = retry_after
