"""Agents react to a message with an emoji, as on WhatsApp (Cloud API `reaction` message).

The business is one participant of the chat, so it has one reaction per message, whoever
of the team sets it (the `reactions` row of reactor 'business'); an empty emoji removes it.
The reaction is sent first and stored once WhatsApp accepted it: a reaction is a small,
repeatable act, and storing a pending one would show the team something the customer may
never see. If WhatsApp later reports it failed (131009: the message is too old or unknown
to it), server/store.py takes it off the message again; both changes are `message.updated`
events, so every dashboard shows them live, like the customer's reactions.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import queries
from .api import MAX_INT, authenticated, json_body, path_id
from .auth import User
from .db import Tx, now_ms
from .emoji import is_reaction_emoji
from .errors import Invalid, NotFound, UpstreamFailed
from .services import services
from .store import Store
from .visibility import visible_conversation
from .whatsapp import CloudAPI, SendError

log = logging.getLogger(__name__)

BUSINESS = "business"  # the reactor of the business's own reactions
NOT_REACTABLE = ("note", "activity", "reaction")


def parse_emoji(body: dict[str, Any]) -> str:
    emoji = body.get("emoji")
    if emoji is None:
        emoji = ""
    if not isinstance(emoji, str) or not is_reaction_emoji(emoji.strip()):
        raise Invalid('emoji must be one emoji, such as "👍", or "" to remove your reaction', "invalid_emoji")
    return emoji.strip()


async def react(
    store: Store, cloud: CloudAPI, user: User, conversation_id: int, message_id: int, emoji: str
) -> dict[str, Any]:
    """Set (or with "" remove) the business's reaction to a message; the message as it stands."""
    db = store.db
    conv = await visible_conversation(
        db, user, conversation_id, "owner_id, phone_number, wa_user_id, last_inbound_at, business_number_id"
    )
    target = await db.fetch_one(
        "SELECT id, wamid, type FROM messages WHERE id = :m AND conversation_id = :c", m=message_id, c=conversation_id
    )
    if target is None:
        raise NotFound(f"message {message_id} not found in conversation {conversation_id}", "message_not_found")
    if target["type"] in NOT_REACTABLE or not target["wamid"]:
        raise Invalid(
            "only a message that went through WhatsApp can get a reaction (not a note, a failed or unsent reply)",
            "not_reactable",
        )
    last_in = conv["last_inbound_at"]
    if last_in is not None and now_ms() > last_in + queries.WINDOW_MS:
        raise Invalid(
            "the 24-hour window is closed: WhatsApp delivers reactions only while the customer's window is open",
            "window_closed",
        )
    to = conv["phone_number"].lstrip("+") if conv["phone_number"] else conv["wa_user_id"]
    if not to:
        raise Invalid("this contact has no phone number WhatsApp can send to", "no_phone_number")
    try:
        wamid = await cloud.send_message(
            to,
            "reaction",
            {"message_id": target["wamid"], "emoji": emoji},
            from_id=conv["business_number_id"] or None,
        )
    except SendError as exc:
        log.warning("reaction to message %s failed: %s", message_id, exc)
        raise UpstreamFailed(str(exc), "whatsapp_refused") from None

    async def job(tx: Tx) -> dict[str, Any]:
        await tx.execute(
            "INSERT INTO reactions (message_wamid, reactor, direction, emoji, wamid, created_at)"
            " VALUES (:m, :r, 'outbound', :e, :w, :at) ON CONFLICT (message_wamid, reactor) DO UPDATE"
            " SET emoji = excluded.emoji, wamid = excluded.wamid, created_at = excluded.created_at",
            m=target["wamid"],
            r=BUSINESS,
            e=emoji,
            w=wamid,
            at=now_ms(),
        )
        # Its status may have beaten Meta's answer here (parked by store.apply_status).
        parked = await tx.fetch_all("SELECT status FROM pending_statuses WHERE wamid = :w", w=wamid)
        if parked:
            await tx.execute("DELETE FROM pending_statuses WHERE wamid = :w", w=wamid)
            if any(p["status"] == "failed" for p in parked):
                await tx.execute("UPDATE reactions SET emoji = '' WHERE wamid = :w", w=wamid)
        return await store.emit_message(tx, "message.updated", message_id, conv["owner_id"])

    log.info("reacted %r to message %s as %s", emoji, message_id, wamid)
    return await db.write(job)


def _message_id(request: Request) -> int:
    try:
        value = int(request.path_params["message_id"])
    except ValueError:
        value = 0
    if not 0 < value <= MAX_INT:
        raise NotFound(f"message {request.path_params['message_id']} not found", "message_not_found")
    return value


@authenticated
async def reaction_endpoint(request: Request, user: User) -> Response:
    emoji = parse_emoji(await json_body(request))
    conversation_id, message_id = path_id(request), _message_id(request)
    parts = services(request)
    return JSONResponse(await react(parts.store, parts.cloud, user, conversation_id, message_id, emoji))


routes = [
    Route("/api/conversations/{id}/messages/{message_id}/reaction", reaction_endpoint, methods=["POST"]),
]
