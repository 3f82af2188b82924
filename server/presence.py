"""Which conversation each open dashboard shows, so nobody is pushed about the conversation in
front of them. Each tab reports its own view (`PUT /api/presence`): when it changes, and
every 20 s while it shows a conversation; a hidden tab shows nothing. A report older than
FRESH_MS no longer counts (a closed laptop, a crashed tab).

The rows live in the database, not in one process's memory, so the process that takes the
webhook knows about dashboards connected to any other process.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api import MAX_INT, authenticated, json_body
from .auth import User
from .db import Database, Tx, now_ms
from .errors import Invalid

FRESH_MS = 60_000


async def watching(db: Database, conversation_id: int) -> set[int]:
    """The users one of whose dashboards shows `conversation_id` now."""
    rows = await db.fetch_all(
        "SELECT DISTINCT user_id FROM dashboard_views WHERE conversation_id = :c AND seen_at > :t",
        c=conversation_id,
        t=now_ms() - FRESH_MS,
    )
    return {int(r["user_id"]) for r in rows}


async def report(db: Database, user: User, client_id: str, conversation_id: int | None) -> None:
    now = now_ms()
    client_id = f"{user.id}:{client_id}"  # one user's tab id never names another user's row

    async def job(tx: Tx) -> None:
        await tx.execute("DELETE FROM dashboard_views WHERE seen_at < :t", t=now - 10 * FRESH_MS)
        if conversation_id is None:
            await tx.execute("DELETE FROM dashboard_views WHERE client_id = :k", k=client_id)
            return
        await tx.execute(
            "INSERT INTO dashboard_views (client_id, user_id, conversation_id, seen_at) VALUES (:k, :u, :c, :t)"
            " ON CONFLICT (client_id) DO UPDATE SET conversation_id = excluded.conversation_id,"
            " seen_at = excluded.seen_at",
            k=client_id,
            u=user.id,
            c=conversation_id,
            t=now,
        )

    await db.write(job)


@authenticated
async def put_presence(request: Request, user: User) -> Response:
    """{"clientId": "<the tab's random id>", "conversationId": 12 | null}"""
    body = await json_body(request)
    client_id = body.get("clientId")
    if not isinstance(client_id, str) or not 8 <= len(client_id) <= 64:
        raise Invalid("clientId must be the tab's id (8 to 64 characters)", "invalid_field")
    conversation_id = body.get("conversationId")
    if conversation_id is not None and (
        isinstance(conversation_id, bool) or not isinstance(conversation_id, int) or not 0 < conversation_id <= MAX_INT
    ):
        raise Invalid("conversationId must be a conversation id or null", "invalid_field")
    # Not checked against visibility: the row only ever silences this user's own pushes.
    await report(request.app.state.db, user, client_id, conversation_id)
    return JSONResponse({"ok": True})


routes = [Route("/api/presence", put_presence, methods=["PUT"])]
