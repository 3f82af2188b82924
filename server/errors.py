"""The one family of errors a request can end in. The code that finds a problem (the store,
the parsers, the API) raises one of these with the sentence a person reads and a `code` a
program can branch on; `handler` turns any of them into `{"error": ..., "code": ...}` with
the class's HTTP status, in one place, so no module below the web layer names a status.
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class AppError(Exception):
    """A refusal: `message` is for people (it is shown as is), `code` for programs."""

    status: int = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}  # more fields for the JSON body, e.g. a file's `status`
        self.headers = headers  # e.g. Retry-After

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, **self.extra}


class BadRequest(AppError):
    """The request itself is malformed (not JSON, not an object)."""

    status = 400
    default_code = "bad_request"


class Unauthenticated(AppError):
    status = 401
    default_code = "unauthenticated"


class Forbidden(AppError):
    status = 403
    default_code = "forbidden"


class NotFound(AppError):
    status = 404
    default_code = "not_found"


class Conflict(AppError):
    status = 409
    default_code = "conflict"


class Gone(AppError):
    status = 410
    default_code = "gone"


class TooLarge(AppError):
    status = 413
    default_code = "too_large"


class Invalid(AppError):
    """Well-formed, but a value is wrong: the sentence says which and why."""

    status = 422
    default_code = "invalid"


class UpstreamFailed(AppError):
    """WhatsApp (Meta's API) failed to answer what we asked."""

    status = 502
    default_code = "upstream_failed"


class Unavailable(AppError):
    """The server cannot do this now, usually because a setting is missing."""

    status = 503
    default_code = "unavailable"


# Codes for Starlette's own HTTPExceptions (unknown route, wrong method, ...).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    502: "upstream_failed",
    503: "unavailable",
}


class Refused(AppError):
    """Deprecated, for code written before the family: `Refused(422, "...")`. Raise
    NotFound, Invalid, Conflict, ... with a code instead; catch AppError."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, HTTP_CODES.get(status, "error"))
        self.status = status


def response(error: AppError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def handler(request: Request, exc: Exception) -> Response:
    """The Starlette exception handler for the whole family."""
    assert isinstance(exc, AppError)
    return response(exc)
