"""What the webhook could not apply, for admins: each failed item with its reason, and the
stored body exactly as Meta sent it (to fix the cause and replay with `replay-webhooks`)."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import ingest, queries
from .api import MAX_INT, authenticated, int_param
from .auth import User
from .errors import Forbidden, NotFound
from .services import services


def _admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("only admins can see webhook failures", "admin_only")


# store.UnknownNumber's reason: the dashboard offers to add that number.
_UNKNOWN_NUMBER = re.compile(r"business number (\d+) is not one of this server's numbers")


def _failure_view(row: dict[str, Any]) -> dict[str, Any]:
    unknown = _UNKNOWN_NUMBER.search(row["reason"] or "")
    return {
        "id": row["id"],
        "webhookEventId": row["webhook_event_id"],
        "item": json.loads(row["item"]) if row["item"] else None,
        "reason": row["reason"],
        "unknownNumberId": unknown.group(1) if unknown else None,
        "createdAt": queries.iso(row["created_at"]),
    }


@authenticated
async def list_failures(request: Request, user: User) -> Response:
    """Newest first; `before` (a failure id) pages back."""
    _admin(user)
    rows = await services(request).db.fetch_all(
        "SELECT id, webhook_event_id, item, reason, created_at FROM webhook_failures"
        " WHERE id < :before ORDER BY id DESC LIMIT :n",
        before=int_param(request, "before", MAX_INT),
        n=min(max(int_param(request, "limit", 50) or 50, 1), 500),
    )
    return JSONResponse([_failure_view(r) for r in rows])


def _event_id(request: Request) -> int:
    try:
        event_id = int(request.path_params["id"])
    except ValueError:
        event_id = 0
    if not 0 < event_id <= MAX_INT:
        raise NotFound(f"webhook event {request.path_params['id']} not found", "webhook_event_not_found")
    return event_id


@authenticated
async def get_webhook_event(request: Request, user: User) -> Response:
    """One stored body: `body` is the text Meta sent, or base64 of its bytes when
    `encoding` is "base64" (not UTF-8, or holding a NUL)."""
    _admin(user)
    event_id = _event_id(request)
    db = services(request).db
    row = await db.fetch_one(
        "SELECT id, received_at, body, encoding, applied, processed, error FROM webhook_events WHERE id = :id",
        id=event_id,
    )
    if row is None:
        raise NotFound(f"webhook event {event_id} not found", "webhook_event_not_found")
    failures = await db.fetch_all(
        "SELECT id, webhook_event_id, item, reason, created_at FROM webhook_failures"
        " WHERE webhook_event_id = :id ORDER BY id",
        id=event_id,
    )
    return JSONResponse(
        {
            "id": row["id"],
            "receivedAt": queries.iso(row["received_at"]),
            "applied": bool(row["applied"]),
            "processed": bool(row["processed"]),
            "error": row["error"],
            "encoding": row["encoding"],
            "body": row["body"],
            "failures": [_failure_view(f) for f in failures],
        }
    )


@authenticated
async def replay_webhook_event(request: Request, user: User) -> Response:
    """Apply one stored body again, e.g. once the business number it was for is added: the
    dashboard's button for what `replay-webhooks` does (idempotent)."""
    _admin(user)
    event_id = _event_id(request)
    running = services(request)
    result = await ingest.replay(running.db, running.store, event_id)
    if result is None:
        raise NotFound(f"webhook event {event_id} not found", "webhook_event_not_found")
    return JSONResponse({"id": event_id, "processed": result.processed, "summary": result.summary()})


routes = [
    Route("/api/webhooks/failures", list_failures),
    Route("/api/webhooks/{id}", get_webhook_event),
    Route("/api/webhooks/{id}/replay", replay_webhook_event, methods=["POST"]),
]
