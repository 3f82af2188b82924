"""Reads, and the JSON shapes the API and the live events share.

Every function takes a `reader` (the Database, or the writer's Tx inside a write), so an
event built inside a write shows exactly what the REST API would show after it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from .auth import User
from .search import clause as search_clause

WINDOW_MS = 24 * 3600 * 1000
MAX_PAGE = 500


class Reader(Protocol):
    dialect: str

    async def fetch_one(self, sql: str, **values: Any) -> dict[str, Any] | None: ...
    async def fetch_all(self, sql: str, **values: Any) -> list[dict[str, Any]]: ...


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- messages ------------------------------------------------------------------------------

_MESSAGE_SELECT = """
SELECT m.id, m.conversation_id, m.wamid, m.client_id, m.direction, m.type, m.content, m.media, m.data,
       m.reply_to_wamid, m.status, m.error, m.created_at, m.sent_at, m.delivered_at, m.read_at,
       r.id AS reply_id, r.type AS reply_type, r.content AS reply_content, r.direction AS reply_direction
FROM messages m LEFT JOIN messages r ON r.wamid = m.reply_to_wamid
"""


def message_view(row: dict[str, Any], reactions: list[dict[str, Any]]) -> dict[str, Any]:
    reply = None
    if row["reply_to_wamid"]:
        reply = {
            "id": row["reply_id"],
            "wamid": row["reply_to_wamid"],
            "type": row["reply_type"],
            "content": row["reply_content"],
            "direction": row["reply_direction"],
        }
    return {
        "id": row["id"],
        "conversationId": row["conversation_id"],
        "wamid": row["wamid"],
        "clientId": row["client_id"],
        "direction": row["direction"],
        "type": row["type"],
        "content": row["content"],
        "media": _json(row["media"]),
        "data": _json(row["data"]),
        "replyTo": reply,
        "reactions": [{"emoji": r["emoji"], "direction": r["direction"]} for r in reactions],
        "status": row["status"],
        "error": _json(row["error"]),
        "createdAt": iso(row["created_at"]),
        "sentAt": iso(row["sent_at"]),
        "deliveredAt": iso(row["delivered_at"]),
        "readAt": iso(row["read_at"]),
    }


async def get_message(reader: Reader, message_id: int) -> dict[str, Any] | None:
    row = await reader.fetch_one(_MESSAGE_SELECT + " WHERE m.id = :id", id=message_id)
    if row is None:
        return None
    reactions = []
    if row["wamid"]:
        reactions = await reader.fetch_all(
            "SELECT emoji, direction FROM reactions WHERE message_wamid = :w AND emoji <> '' ORDER BY created_at",
            w=row["wamid"],
        )
    return message_view(row, reactions)


async def list_messages(
    reader: Reader, conversation_id: int, limit: int = 50, before: int | None = None, after: int | None = None
) -> list[dict[str, Any]]:
    """Oldest first. `after` is the polling cursor; `before` pages back in history."""
    limit = max(1, min(limit, MAX_PAGE))
    if after is not None:
        rows = await reader.fetch_all(
            _MESSAGE_SELECT + " WHERE m.conversation_id = :c AND m.id > :after ORDER BY m.id ASC LIMIT :lim",
            c=conversation_id,
            after=after,
            lim=limit,
        )
    else:
        rows = await reader.fetch_all(
            _MESSAGE_SELECT + " WHERE m.conversation_id = :c AND m.id < :before ORDER BY m.id DESC LIMIT :lim",
            c=conversation_id,
            before=before if before is not None else 2**62,
            lim=limit,
        )
        rows.reverse()
    if not rows:
        return []
    reactions = await reader.fetch_all(
        "SELECT x.message_wamid, x.emoji, x.direction FROM reactions x JOIN messages m ON m.wamid = x.message_wamid"
        " WHERE m.conversation_id = :c AND m.id BETWEEN :lo AND :hi AND x.emoji <> '' ORDER BY x.created_at",
        c=conversation_id,
        lo=rows[0]["id"],
        hi=rows[-1]["id"],
    )
    by_wamid: dict[str, list[dict[str, Any]]] = {}
    for r in reactions:
        by_wamid.setdefault(r["message_wamid"], []).append(r)
    return [message_view(r, by_wamid.get(r["wamid"], [])) for r in rows]


# -- conversations -------------------------------------------------------------------------

_CONVERSATION_SELECT = """
SELECT c.id, c.phone_number, c.wa_user_id, c.contact_name, c.profile_name, c.business_number_id,
       c.owner_id, c.last_message_at,
       c.last_inbound_at, c.unread_count,
       m.id AS lm_id, m.type AS lm_type, m.content AS lm_content, m.direction AS lm_direction,
       m.status AS lm_status
FROM conversations c LEFT JOIN messages m ON m.id = c.last_message_id
"""


def conversation_view(row: dict[str, Any]) -> dict[str, Any]:
    last = None
    if row["lm_id"] is not None:
        last = {
            "id": row["lm_id"],
            "type": row["lm_type"],
            "content": row["lm_content"],
            "direction": row["lm_direction"],
            "status": row["lm_status"],
        }
    inbound_at = row["last_inbound_at"]
    return {
        "id": row["id"],
        "phoneNumber": row["phone_number"],
        "waUserId": row["wa_user_id"],
        "contactName": row["contact_name"],
        "profileName": row["profile_name"],
        "businessNumberId": row["business_number_id"] or None,
        "ownerId": row["owner_id"],
        "lastMessage": last,
        "lastMessageAt": iso(row["last_message_at"]),
        "unreadCount": row["unread_count"],
        "windowOpenUntil": iso(inbound_at + WINDOW_MS) if inbound_at is not None else None,
        "hasInbound": inbound_at is not None,
    }


async def get_conversation_row(reader: Reader, conversation_id: int) -> dict[str, Any] | None:
    return await reader.fetch_one(_CONVERSATION_SELECT + " WHERE c.id = :id", id=conversation_id)


async def get_conversation(reader: Reader, conversation_id: int) -> dict[str, Any] | None:
    row = await get_conversation_row(reader, conversation_id)
    return None if row is None else conversation_view(row)


_NUMBER_FILTER = " AND c.business_number_id = :number"


async def list_conversations(
    reader: Reader,
    user: User,
    search: str | None = None,
    limit: int = 50,
    before: int | None = None,
    number: str | None = None,
) -> list[dict[str, Any]]:
    """Newest activity first; `before` is the id of the last conversation of the previous page;
    `number` keeps one business number's conversations."""
    limit = max(1, min(limit, MAX_PAGE))
    before_at, before_id = 2**62, 2**62
    if before is not None:
        anchor = await reader.fetch_one("SELECT last_message_at, id FROM conversations WHERE id = :id", id=before)
        if anchor is None:
            return []
        before_at, before_id = anchor["last_message_at"], anchor["id"]
    values: dict[str, Any] = dict(admin=1 if user.is_admin else 0, uid=user.id, bat=before_at, bid=before_id, lim=limit)
    where = (
        " WHERE (:admin = 1 OR c.owner_id = :uid)"
        " AND (c.last_message_at < :bat OR (c.last_message_at = :bat AND c.id < :bid))"
    )
    if number:
        values["number"] = number
        where += _NUMBER_FILTER
    if search and search.strip():
        sql, search_values = search_clause(reader.dialect, search)
        where += sql
        values.update(search_values)
    rows = await reader.fetch_all(
        _CONVERSATION_SELECT + where + " ORDER BY c.last_message_at DESC, c.id DESC LIMIT :lim", **values
    )
    return [conversation_view(r) for r in rows]


# -- events --------------------------------------------------------------------------------


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "conversationId": row["conversation_id"],
        "data": _json(row["data"]),
    }


EVENTS_PAGE = 1000


async def events_since(reader: Reader, user: User, since: int, until: int) -> list[dict[str, Any]]:
    """The events in (since, until] this user may see, oldest first, at most one page."""
    rows = await reader.fetch_all(
        "SELECT id, type, conversation_id, owner_id, data FROM events"
        " WHERE id > :since AND id <= :until AND (:admin = 1 OR owner_id = :uid) ORDER BY id LIMIT :lim",
        since=since,
        until=until,
        admin=1 if user.is_admin else 0,
        uid=user.id,
        lim=EVENTS_PAGE,
    )
    return [event_view(r) for r in rows]
