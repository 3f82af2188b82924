"""Who may see a conversation: the one rule, used by REST, search, /api/events, /ws and media.

Admins see everything. Agents see the conversations assigned to them, and the unassigned
queue too when `AGENTS_SEE_UNASSIGNED=true` (the flag travels on the `User`, set when the
token is checked). Events addressed to one user (`events.user_id`) reach only that user.
The SQL fragments below say the same as `may_see`, for queries that filter many rows.
"""

from __future__ import annotations

from typing import Any, Protocol

from .auth import User
from .errors import NotFound


class _Reads(Protocol):
    async def fetch_one(self, sql: str, **values: Any) -> dict[str, Any] | None: ...


def may_see(user: User, assignee_id: int | None) -> bool:
    """True when `user` may see a conversation assigned to `assignee_id` (None: the queue)."""
    if user.is_admin:
        return True
    if assignee_id is None:
        return user.sees_unassigned
    return assignee_id == user.id


async def visible_conversation(
    reader: _Reads, user: User, conversation_id: int, columns: str = "id, owner_id"
) -> dict[str, Any]:
    """The conversation's `columns` (owner_id among them) when `user` may see it. Otherwise
    NotFound, the same answer whether it does not exist or is someone else's, so an error
    never tells whose it is. `reader`: the Database, or a write's Tx."""
    conv = await reader.fetch_one(f"SELECT {columns} FROM conversations WHERE id = :id", id=conversation_id)
    if conv is None or not may_see(user, conv["owner_id"]):
        raise NotFound(f"conversation {conversation_id} not found", "conversation_not_found")
    return conv


def may_receive(user: User, assignee_id: int | None, addressed_to: int | None) -> bool:
    """An event about a conversation assigned to `assignee_id`, or addressed to one user."""
    if addressed_to is not None:
        return addressed_to == user.id
    return may_see(user, assignee_id)


# The same rule over conversations `c` (listing, search) and over the events table.
CONVERSATIONS_SQL = "(:vis_admin = 1 OR c.owner_id = :vis_uid OR (:vis_queue = 1 AND c.owner_id IS NULL))"
EVENTS_SQL = (
    "(user_id = :vis_uid OR (user_id IS NULL AND"
    " (:vis_admin = 1 OR owner_id = :vis_uid OR (:vis_queue = 1 AND owner_id IS NULL))))"
)


def binds(user: User) -> dict[str, Any]:
    """The values the SQL fragments above need."""
    return {
        "vis_admin": 1 if user.is_admin else 0,
        "vis_uid": user.id,
        "vis_queue": 1 if user.sees_unassigned else 0,
    }
