"""The customer sees "typing…" while an agent writes (Cloud API typing indicator).

Meta shows it on the customer's newest message and marks that message (and earlier ones)
read; it disappears when our reply arrives or after 25 seconds. It is only useful while a
reply is possible, so it is refused when the 24-hour window is closed or the customer never
wrote: a typing indicator that no reply follows is what Meta asks businesses not to send.
Because it marks the message read, it is refused too with READ_RECEIPTS=never (server/
receipts.py): a business that gives no blue ticks gives no "typing…" either.
The dashboard calls it when the agent starts typing, at most once every 20 seconds.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import queries
from .api import authenticated, path_id
from .auth import User
from .db import now_ms
from .errors import Conflict, Invalid, UpstreamFailed
from .receipts import NEVER, ON_OPEN
from .services import services
from .visibility import visible_conversation
from .whatsapp import CloudAPI, SendError

log = logging.getLogger(__name__)


async def show_typing(
    db: Any, cloud: CloudAPI, user: User, conversation_id: int, read_receipts: str = ON_OPEN
) -> dict[str, Any]:
    """Send the indicator for the customer's newest message; the message it was shown on."""
    if read_receipts == NEVER:
        raise Conflict(
            "the typing indicator also marks the customer's message read, and READ_RECEIPTS=never", "typing_off"
        )
    conv = await visible_conversation(db, user, conversation_id, "owner_id, last_inbound_at, business_number_id")
    newest = await db.fetch_one(
        "SELECT id, wamid FROM messages WHERE conversation_id = :c AND direction = 'inbound' AND wamid IS NOT NULL"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        c=conversation_id,
    )
    if newest is None or conv["last_inbound_at"] is None:
        raise Conflict(
            "the customer has not written yet: WhatsApp shows typing only in answer to their message",
            "no_customer_message",
        )
    if now_ms() > conv["last_inbound_at"] + queries.WINDOW_MS:
        raise Invalid(
            "the 24-hour window is closed: no free-form reply can follow, so no typing indicator is sent",
            "window_closed",
        )
    try:
        await cloud.typing_indicator(newest["wamid"], from_id=conv["business_number_id"] or None)
    except SendError as exc:
        log.warning("typing indicator for conversation %s failed: %s", conversation_id, exc)
        raise UpstreamFailed(str(exc), "whatsapp_refused") from None
    return {"ok": True, "messageId": newest["id"]}


@authenticated
async def typing_endpoint(request: Request, user: User) -> Response:
    parts = services(request)
    policy = parts.settings.read_receipts
    result = await show_typing(parts.db, parts.cloud, user, path_id(request), policy)
    return JSONResponse(result)


routes = [Route("/api/conversations/{id}/typing", typing_endpoint, methods=["POST"])]
