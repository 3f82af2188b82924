"""Reads, and the JSON shapes the API and the live events share.

Every function takes a `reader` (the Database, or the writer's Tx inside a write), so an
event built inside a write shows exactly what the REST API would show after it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from .auth import User, display_name
from .search import clause as search_clause
from .visibility import CONVERSATIONS_SQL, EVENTS_SQL, binds

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
       m.sender_user_id, au.name AS author_name, au.email AS author_email,
       r.id AS reply_id, r.type AS reply_type, r.content AS reply_content, r.direction AS reply_direction
FROM messages m LEFT JOIN messages r ON r.wamid = m.reply_to_wamid LEFT JOIN users au ON au.id = m.sender_user_id
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
        # Who wrote it: the agent of a reply, note or activity line (None for the customer's).
        "authorId": row["sender_user_id"],
        "authorName": display_name(row["author_name"], row["author_email"]) if row["author_email"] else None,
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
       c.last_inbound_at, c.inbound_count, c.status, c.snoozed_until, c.labels,
       CASE WHEN rd.read_count IS NULL OR c.owner_id IS NULL OR c.owner_id = :viewer THEN c.unread_count
            ELSE c.inbound_count - rd.read_count END AS unread_count,
       au.name AS assignee_name, au.email AS assignee_email,
       m.id AS lm_id, m.type AS lm_type, m.content AS lm_content, m.direction AS lm_direction,
       m.status AS lm_status, m.data AS lm_data
FROM conversations c LEFT JOIN messages m ON m.id = c.last_message_id
LEFT JOIN users au ON au.id = c.owner_id
LEFT JOIN conversation_reads rd ON rd.conversation_id = c.id AND rd.user_id = :viewer
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
        data = _json(row["lm_data"])
        if isinstance(data, dict) and data.get("deleted"):
            last["deleted"] = True  # the list says so instead of showing an empty line
    inbound_at = row["last_inbound_at"]
    return {
        "id": row["id"],
        "phoneNumber": row["phone_number"],
        "waUserId": row["wa_user_id"],
        "contactName": row["contact_name"],
        "profileName": row["profile_name"],
        "businessNumberId": row["business_number_id"] or None,
        "ownerId": row["owner_id"],
        "assigneeId": row["owner_id"],
        "assigneeName": display_name(row["assignee_name"], row["assignee_email"]) if row["assignee_email"] else None,
        "status": row["status"],
        "snoozedUntil": row["snoozed_until"],
        "labels": _json(row["labels"]) or [],
        "lastMessage": last,
        "lastMessageAt": iso(row["last_message_at"]),
        # Unread for the user asking (REST) or for the assignee (events: a dashboard of anyone
        # else adds the growth of inboundCount to its own count, see server/reads.py).
        "unreadCount": max(row["unread_count"], 0),
        "inboundCount": row["inbound_count"],
        "windowOpenUntil": iso(inbound_at + WINDOW_MS) if inbound_at is not None else None,
        "hasInbound": inbound_at is not None,
    }


async def get_conversation_row(
    reader: Reader, conversation_id: int, viewer: User | None = None
) -> dict[str, Any] | None:
    """`viewer`: whose unread count to show (None: the assignee's)."""
    return await reader.fetch_one(
        _CONVERSATION_SELECT + " WHERE c.id = :id", id=conversation_id, viewer=viewer.id if viewer else 0
    )


async def get_conversation(reader: Reader, conversation_id: int, viewer: User | None = None) -> dict[str, Any] | None:
    row = await get_conversation_row(reader, conversation_id, viewer)
    return None if row is None else conversation_view(row)


_NUMBER_FILTER = " AND c.business_number_id = :number"


STATUSES = ("open", "pending", "resolved", "snoozed")
UNASSIGNED = "unassigned"

# Listing filters: each is a fixed fragment with its own binds. Up to four statuses bind as
# four values (repeats are harmless), so the SQL text never depends on the input.
_STATUS_FILTER = " AND c.status IN (:st0, :st1, :st2, :st3)"
_ASSIGNEE_FILTER = " AND c.owner_id = :assignee"
_UNASSIGNED_FILTER = " AND c.owner_id IS NULL"
_LABEL_FILTER = (
    " AND c.id IN (SELECT cl.conversation_id FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id"
    " WHERE l.name = :label)"
)


def _filters(
    reader: Reader,
    user: User,
    search: str | None,
    statuses: tuple[str, ...] | None,
    assignee: int | str | None,
    label: str | None,
    number: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (visibility first) and its values, shared by the page and the counts."""
    values: dict[str, Any] = binds(user)
    where = " WHERE " + CONVERSATIONS_SQL
    if statuses:
        padded = (list(statuses) * 4)[:4]
        values.update({f"st{i}": value for i, value in enumerate(padded)})
        where += _STATUS_FILTER
    if assignee == UNASSIGNED:
        where += _UNASSIGNED_FILTER
    elif assignee is not None:
        values["assignee"] = assignee
        where += _ASSIGNEE_FILTER
    if label:
        values["label"] = label
        where += _LABEL_FILTER
    if number:
        values["number"] = number
        where += _NUMBER_FILTER
    if search and search.strip():
        sql, search_values = search_clause(reader.dialect, search)
        where += sql
        values.update(search_values)
    return where, values


async def list_conversations(
    reader: Reader,
    user: User,
    search: str | None = None,
    limit: int = 50,
    before: int | None = None,
    number: str | None = None,
    statuses: tuple[str, ...] | None = None,
    assignee: int | str | None = None,
    label: str | None = None,
) -> list[dict[str, Any]]:
    """Newest activity first; `before` is the id of the last conversation of the previous page;
    `number` keeps one business number's conversations; `statuses` (None: all), `assignee` (a
    user id or UNASSIGNED) and `label` narrow the list."""
    limit = max(1, min(limit, MAX_PAGE))
    before_at, before_id = 2**62, 2**62
    if before is not None:
        anchor = await reader.fetch_one("SELECT last_message_at, id FROM conversations WHERE id = :id", id=before)
        if anchor is None:
            return []
        before_at, before_id = anchor["last_message_at"], anchor["id"]
    where, values = _filters(reader, user, search, statuses, assignee, label, number)
    values.update(viewer=user.id, bat=before_at, bid=before_id, lim=limit)
    where += " AND (c.last_message_at < :bat OR (c.last_message_at = :bat AND c.id < :bid))"
    rows = await reader.fetch_all(
        _CONVERSATION_SELECT + where + " ORDER BY c.last_message_at DESC, c.id DESC LIMIT :lim", **values
    )
    return [conversation_view(r) for r in rows]


async def status_counts(
    reader: Reader,
    user: User,
    search: str | None = None,
    assignee: int | str | None = None,
    label: str | None = None,
    number: str | None = None,
) -> dict[str, int]:
    """How many conversations of each status the list would show (the dashboard's tabs)."""
    where, values = _filters(reader, user, search, None, assignee, label, number)
    rows = await reader.fetch_all(
        "SELECT c.status, COUNT(*) AS n FROM conversations c" + where + " GROUP BY c.status", **values
    )
    counts = dict.fromkeys(STATUSES, 0)
    for r in rows:
        counts[r["status"]] = int(r["n"])
    counts["all"] = sum(counts.values())
    return counts


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
        " WHERE id > :since AND id <= :until AND " + EVENTS_SQL + " ORDER BY id LIMIT :lim",
        since=since,
        until=until,
        lim=EVENTS_PAGE,
        **binds(user),
    )
    return [event_view(r) for r in rows]
