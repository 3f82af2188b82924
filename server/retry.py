"""Retry: a failed reply is sent again as the same message (same id, same place in the thread).

`POST /api/conversations/{id}/messages/{messageId}/retry`. Only an outbound reply that
`failed` (refused by WhatsApp, or cut off and "may not have been sent") can be retried; one
that is pending or already sent is a 409, so a double click or two agents clicking at once
send it once: the move from `failed` back to `pending` is one conditional UPDATE on the
single writer, and only the request that made it hands the message to WhatsApp. The reply then
goes pending -> sent -> delivered like any other, through the outbox's background delivery,
and every step is a `message.updated` event.

A free-form reply into a closed 24-hour window would only fail again: that is a 422
`window_closed` (the dashboard offers a template instead).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import queries
from .api import MAX_INT, authenticated, path_id
from .auth import User
from .db import Tx, now_ms
from .errors import Conflict, Invalid, NotFound
from .outbox import deliver
from .store import Outbound, Store
from .template_parts import uploaded_header, with_header
from .templates import spec_of
from .visibility import may_see
from .whatsapp import CloudAPI, SendError, error_object

Send = Callable[[str], Awaitable[str]]
# What can be rebuilt from the stored message: its text, its template and parameters, its file,
# or (location, contact cards) the Cloud API object kept as its data.
RETRYABLE = frozenset(
    {"text", "template", "image", "video", "audio", "voice", "document", "sticker", "location", "contacts"}
)

_SELECT = (
    "SELECT m.id, m.direction, m.type, m.status, m.content, m.media, m.data, m.reply_to_wamid,"
    " c.id AS conversation_id, c.owner_id, c.phone_number, c.wa_user_id, c.last_inbound_at,"
    " c.business_number_id, c.last_message_id"
    " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
    " WHERE m.id = :id AND m.conversation_id = :c"
)


def _json(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) and raw else raw


async def reopen(store: Store, user: User, conversation_id: int, message_id: int) -> tuple[Outbound, dict[str, Any]]:
    """Put a failed reply back to pending (once), announce it, and say where it goes.
    Returns the Outbound to hand to WhatsApp and the stored row it was made from."""

    async def job(tx: Tx) -> tuple[Outbound, dict[str, Any]]:
        row = await tx.fetch_one(_SELECT, id=message_id, c=conversation_id)
        if row is None or not may_see(user, row["owner_id"]):
            raise NotFound(f"message {message_id} not found in conversation {conversation_id}", "message_not_found")
        if row["direction"] != "outbound":
            raise Conflict("only your own replies can be sent again", "not_a_reply")
        if row["status"] != "failed":
            raise Conflict("this message is not failed: it is already sent or being sent", "not_failed")
        if row["type"] not in RETRYABLE:
            raise Invalid(f"a {row['type']} message cannot be sent again: send it anew", "not_retryable")
        if row["phone_number"] is None and not row["wa_user_id"]:
            raise Invalid("this contact has no phone number WhatsApp can send to", "no_phone_number")
        last_in = row["last_inbound_at"]
        if row["type"] != "template" and last_in is not None and now_ms() > last_in + queries.WINDOW_MS:
            raise Invalid(
                "the 24-hour window is closed: the customer last wrote more than 24 hours ago, so "
                "WhatsApp only accepts an approved template message",
                "window_closed",
            )
        moved = await tx.fetch_all(
            "UPDATE messages SET status = 'pending', error = NULL, wamid = NULL, sent_at = NULL,"
            " delivered_at = NULL, read_at = NULL, send_by = :by"
            " WHERE id = :id AND status = 'failed' RETURNING id",
            id=message_id,
            by=store.process_id,
        )
        if not moved:  # cannot happen on the single writer; kept as the rule itself
            raise Conflict("this message is already being sent again", "not_failed")
        message = await store.emit_message(tx, "message.updated", message_id, row["owner_id"])
        if row["last_message_id"] == message_id:
            await store.emit_conversation(tx, row["conversation_id"])
        to = row["phone_number"].lstrip("+") if row["phone_number"] else row["wa_user_id"]
        outbound = Outbound(message, to, duplicate=False, number_id=row["business_number_id"] or None)
        return outbound, dict(row)

    return await store.db.write(job)


def _sender(app_state: Any, row: dict[str, Any], number_id: str | None) -> Send:
    """How to hand this stored reply to WhatsApp again, by its type."""
    cloud: CloudAPI = app_state.outbox.cloud
    kind = row["type"]
    content = row["content"] or ""
    reply_to = row["reply_to_wamid"]
    if kind == "text":
        return lambda to: cloud.send_text(to, content, reply_to_wamid=reply_to, from_id=number_id)
    media = _json(row["media"]) or {}

    async def upload(file_id: str) -> tuple[str, str]:
        """The stored file uploaded to Meta again: (media id, filename)."""
        file = await app_state.store.db.fetch_one(
            "SELECT storage_key, mime_type, filename FROM media_files WHERE media_id = :id", id=file_id
        )
        data = await app_state.media.files.get(file["storage_key"]) if file else None
        if data is None:
            raise _gone()
        mime = file["mime_type"] or media.get("mimeType") or "application/octet-stream"
        name = file["filename"] or media.get("filename") or "file"
        return await cloud.upload_media(data, mime, name, from_id=number_id), name

    if kind == "template":
        data = _json(row["data"]) or {}

        async def send_template(to: str) -> str:
            resolved = await app_state.templates.resolve(spec_of(data), uploaded_header=bool(media.get("id")))
            template = resolved.template
            if resolved.upload_header:  # its media header was uploaded with the send: again
                media_id, name = await upload(media["id"])
                template = with_header(template, uploaded_header(resolved.upload_header, media_id, name))
            return await cloud.send_message(to, "template", template, reply_to_wamid=reply_to, from_id=number_id)

        return send_template
    if kind in ("location", "contacts"):
        stored = _json(row["data"])
        if isinstance(stored, (dict, list)) and stored:
            return lambda to: cloud.send_message(to, kind, stored, reply_to_wamid=reply_to, from_id=number_id)
    if media.get("id"):

        async def send_file(to: str) -> str:
            media_id, name = await upload(media["id"])
            body: dict[str, Any] = {"id": media_id}
            if media.get("caption"):
                body["caption"] = media["caption"]
            if kind == "document":
                body["filename"] = name
            if media.get("voice"):  # a voice note stays one
                body["voice"] = True
            return await cloud.send_message(to, kind, body, reply_to_wamid=reply_to, from_id=number_id)

        return send_file

    async def no_file(to: str) -> str:
        raise _gone()

    return no_file


def _gone(detail: str = "the file of this message is no longer stored") -> Exception:
    err = error_object(None, "Not sent again", detail)
    err["message"] = f"This message could not be sent again: {detail}."
    return SendError(err, retryable=False)


async def retry(app_state: Any, user: User, conversation_id: int, message_id: int) -> dict[str, Any]:
    """Send a failed reply again; the reply as it stands after at most SEND_WAIT seconds."""
    outbound, row = await reopen(app_state.store, user, conversation_id, message_id)
    return await deliver(app_state.store, outbound, _sender(app_state, row, outbound.number_id))


@authenticated
async def retry_endpoint(request: Request, user: User) -> Response:
    conversation_id = path_id(request)
    try:
        message_id = int(request.path_params["message_id"])
    except ValueError:
        message_id = 0
    if not 0 < message_id <= MAX_INT:
        raise NotFound(f"message {request.path_params['message_id']} not found", "message_not_found")
    return JSONResponse(await retry(request.app.state, user, conversation_id, message_id))


routes = [
    Route("/api/conversations/{id}/messages/{message_id}/retry", retry_endpoint, methods=["POST"]),
]
