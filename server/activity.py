"""History lines in a conversation ("Sam assigned this to Ana", "Ana resolved this").

They are messages of `type: "activity"`, `direction: "internal"`: returned in order with
everything else, shown like WhatsApp's own system lines, never sent, never unread, never the
conversation's last message and never touching the 24-hour window.
"""

from __future__ import annotations

import json
from typing import Any

from . import queries
from .auth import User, display_name
from .db import Tx, now_ms
from .store import Store

NOTE = "note"
ACTIVITY = "activity"
INTERNAL = "internal"


async def add_internal(
    store: Store,
    tx: Tx,
    conversation_id: int,
    owner_id: int | None,
    author_id: int | None,
    kind: str,
    content: str,
    data: Any = None,
) -> dict[str, Any]:
    """Store a note or an activity line and announce it (message.created)."""
    message_id = await tx.fetch_val(
        "INSERT INTO messages (conversation_id, direction, type, content, data, status, sender_user_id, created_at)"
        " VALUES (:c, :d, :t, :content, :data, :s, :u, :at) RETURNING id",
        c=conversation_id,
        d=INTERNAL,
        t=kind,
        content=content,
        data=None if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        s=INTERNAL,
        u=author_id,
        at=now_ms(),
    )
    message = await queries.get_message(tx, message_id)
    assert message is not None
    await store.emit(tx, "message.created", conversation_id, owner_id, message)
    return message


async def user_name(tx: Tx, user_id: int | None) -> str:
    if user_id is None:
        return "nobody"
    row = await tx.fetch_one("SELECT name, email FROM users WHERE id = :id", id=user_id)
    return display_name(row["name"], row["email"]) if row else f"user {user_id}"


async def record(
    store: Store, tx: Tx, conversation_id: int, owner_id: int | None, actor: User, text: str, data: dict[str, Any]
) -> dict[str, Any]:
    """An activity line by `actor`: `text` is what people read, `data` what scripts read."""
    return await add_internal(store, tx, conversation_id, owner_id, actor.id, ACTIVITY, text, data)
