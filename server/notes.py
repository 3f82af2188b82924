"""Private notes: what agents say to each other inside a conversation, never to the customer.

A note is a message of `type: "note"`, `direction: "internal"`: never sent to Meta, never
unread, never the conversation's last message, never touching the 24-hour window. `@name`
(a user's name, or the part of their email before the @) mentions a user, who gets a
`mention` event; only users who may see the conversation can be mentioned.
"""

from __future__ import annotations

import re
from typing import Any

from . import activity
from .auth import User, display_name
from .db import Tx
from .errors import Invalid
from .store import Store
from .visibility import may_see, visible_conversation

MAX_NOTE = 4096


def mentioned(content: str, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The users `content` mentions: `@` then their name or email's local part, as a whole
    word, any case. The longest match wins ("@Ana Lima" over "@Ana")."""
    found: list[dict[str, Any]] = []
    text = content.casefold()
    for user in users:
        handles = {display_name(user["name"], user["email"]).casefold(), user["email"].split("@", 1)[0].casefold()}
        for handle in handles:
            if handle and re.search(r"(?<![\w@])@" + re.escape(handle) + r"(?!\w)", text):
                found.append(user)
                break
    return found


async def add_note(store: Store, actor: User, conversation_id: int, content: Any) -> tuple[dict[str, Any], list[int]]:
    """The stored note and the ids of the users it mentioned."""
    if not isinstance(content, str):
        raise Invalid("content must be text")
    content = content.strip()
    if not content:
        raise Invalid("content is empty: type a note")
    if len(content) > MAX_NOTE:
        raise Invalid(f"a note is at most {MAX_NOTE} characters")

    async def job(tx: Tx) -> tuple[dict[str, Any], list[int]]:
        conv = await visible_conversation(tx, actor, conversation_id)
        users = await tx.fetch_all(
            "SELECT id, email, name, is_admin FROM users WHERE deactivated_at IS NULL ORDER BY id"
        )
        mentions = mentioned(content, users)
        blind = [
            u
            for u in mentions
            if not may_see(
                User(u["id"], u["email"], bool(u["is_admin"]), u["name"] or "", actor.sees_unassigned),
                conv["owner_id"],
            )
        ]
        if blind:
            names = ", ".join(display_name(u["name"], u["email"]) for u in blind)
            raise Invalid(f"{names} cannot see this conversation: assign it to them first, or leave them out")
        note = await activity.add_internal(
            store,
            tx,
            conversation_id,
            conv["owner_id"],
            actor.id,
            activity.NOTE,
            content,
            {"mentions": [u["id"] for u in mentions]} if mentions else None,
        )
        for u in mentions:
            if u["id"] == actor.id:
                continue
            await store.emit(
                tx,
                "mention",
                conversation_id,
                conv["owner_id"],
                {"conversationId": conversation_id, "message": note, "by": actor.id, "byName": actor.display_name},
                user_id=u["id"],
            )
        return note, [u["id"] for u in mentions]

    return await store.db.write(job)
