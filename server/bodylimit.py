"""Request bodies are counted while they stream in, so no route can be made to buffer more
than its own limit.

Checking `Content-Length` is not enough: a chunked body declares no length, and Starlette's
`request.body()` reads it whole before the handler sees a byte. The middleware counts the
bytes of every `http.request` message the app receives and stops the request with a 413 the
moment the route's limit is passed; the connection is closed, so the rest of the body is
never read.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .logs import ASGIApp, Message, Receive, Scope, Send

LimitFor = Callable[[Scope], int]


class BodyTooLarge(Exception):
    """Raised from `receive` inside the app; turned into the 413 by the middleware."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def send_too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": f"request body too large: this endpoint accepts at most {_size(limit)}", "code": "too_large"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """ASGI middleware: `limit_for(scope)` bytes at most for each HTTP request's body."""

    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await send_too_large(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if started:  # pragma: no cover - a handler that answers before reading its body
                raise
            await send_too_large(send, exc.limit)
