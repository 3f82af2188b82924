"""Logging for operators: one `key=value` line per request, tagged with a request id.

`RequestIdMiddleware` takes the caller's `X-Request-ID` (a proxy or load balancer usually sets
one) or makes a new one, returns it on the response, and keeps it in a context variable so
every other log line written while handling that request ends in `request_id=…` too. A
webhook that was rejected, or a send that Meta refused, can then be traced back to the
request that caused it, and an agent can quote the id of a failed call.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCESS_LOGGER = "server.access"
HEADER = b"x-request-id"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_id_suffix)s"
# Paths polled by monitors: logged at DEBUG while they answer well, so they do not drown the rest.
QUIET_PATHS = frozenset({"/healthz"})
# What an incoming id may look like: it ends up in log lines and response headers verbatim.
_VALID_ID = re.compile(r"[A-Za-z0-9._:+=/@-]{1,128}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger(ACCESS_LOGGER)


def new_request_id() -> str:
    return secrets.token_hex(8)


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return request_id.get()


# Secrets that a library's log line may carry (uvicorn writes a websocket's whole URL, and at
# debug level its request headers): a token in a query, a bearer header, the session cookie,
# a token or password in a JSON text. Shown as [redacted].
_SECRETS = re.compile(
    r"(?P<keep>(?i:bearer)\s+|(?<![A-Za-z0-9_])(?:token|access_token|verify_token|inbox_session|inbox_token)=|"
    r"\"(?:token|password|currentPassword)\"\s*:\s*\")"
    r"(?P<secret>[^\s&;\"',)\]]+)"
)


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: m.group("keep") + "[redacted]", text)


class RedactSecrets(logging.Filter):
    """Keeps tokens and passwords out of every line a handler writes, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_all_handlers() -> None:
    """Put `RedactSecrets` on every handler configured so far (uvicorn configures its own)."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())


class RequestIdFilter(logging.Filter):
    """Gives every record `request_id` and `request_id_suffix` (" request_id=…" or "")."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None) or request_id.get()
        record.request_id = rid or "-"
        # The access line already names its id in the message.
        record.request_id_suffix = f" request_id={rid}" if rid and record.name != ACCESS_LOGGER else ""
        return True


def setup(level: str | int = "info") -> None:
    """Log to stderr with request ids; quiet the libraries that chatter at INFO.

    Like `logging.basicConfig`, this leaves a root logger that already has handlers alone
    (pytest's, or an embedding application's).
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level, handlers=[handler])
    # `databases` logs "Connected to database postgresql://user:password@…" at INFO: noise on
    # every command, and it would print the password of the database URL.
    logging.getLogger("databases").setLevel(logging.WARNING)
    # httpx logs every call at INFO; the outbox and the webhook handler log what matters.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            try:
                return bytes(value).decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                return None
    return None


class RequestIdMiddleware:
    """ASGI middleware: assign or propagate `X-Request-ID`, and log one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, HEADER)
        rid = incoming if incoming and _VALID_ID.fullmatch(incoming) else new_request_id()
        # Not reset afterwards on purpose: the server's error handler runs after this frame
        # has unwound and still needs the id; every request runs in a task of its own.
        request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                if not any(k.lower() == HEADER for k, _ in headers):
                    headers.append((HEADER, rid.encode("latin-1")))
                message = {**message, "headers": headers}
            elif kind == "websocket.accept" and status is None:
                status = 101
            elif kind == "websocket.close" and status is None:
                status = 403  # closed before the handshake completed: refused
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if status is None:
                status = 500
            raise
        finally:
            self._log(scope, status, time.perf_counter() - started, rid)

    @staticmethod
    def _log(scope: Scope, status: int | None, seconds: float, rid: str) -> None:
        path = scope.get("path", "")
        raw = scope.get("raw_path")
        # As the client sent it (percent-encoded, so one token in a key=value line).
        shown = raw.decode("latin-1") if isinstance(raw, bytes) and raw else path
        method = scope.get("method", "GET") if scope["type"] == "http" else "WS"
        if status is None:  # the client went away before an answer was started
            status = 499
        if status >= 500:
            level = logging.WARNING
        elif path in QUIET_PATHS and status < 400:
            level = logging.DEBUG
        elif status == 429:  # a flood: the throttle logs it once (server/throttle.py)
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not access_log.isEnabledFor(level):
            return
        client = scope.get("client")
        access_log.log(
            level,
            "method=%s path=%s status=%d duration_ms=%.1f request_id=%s client=%s",
            method,
            shown,
            status,
            seconds * 1000,
            rid,
            client[0] if client else "-",
            extra={"request_id": rid},
        )
