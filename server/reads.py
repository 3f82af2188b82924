"""Read positions: each user has their own, and the customer's blue ticks follow the assignee.

`conversations.inbound_count` counts customer messages; a user's read position is the count
they had read (`conversation_reads`). `conversations.unread_count` is the assignee's (and the
shared queue's, for an unassigned conversation): the one the customer's ticks follow. An admin
opening an agent's conversation moves only the admin's own position.

Live events carry the assignee's `unreadCount` and the conversation's `inboundCount`; a
dashboard of someone else adds the growth of `inboundCount` to its own count, and its own
reads arrive as events addressed to it alone.
"""

from __future__ import annotations

from typing import Any

from . import queries
from .auth import User
from .db import Tx, now_ms
from .store import Store
from .visibility import visible_conversation


async def mark_read(store: Store, user: User, conversation_id: int) -> tuple[dict[str, Any], str | None]:
    """Clear `user`'s unread count; returns the conversation as `user` sees it and the newest
    inbound wamid to give blue ticks for (None when the ticks are not this user's to give)."""

    async def job(tx: Tx) -> tuple[dict[str, Any], str | None]:
        conv = await visible_conversation(tx, user, conversation_id, "id, owner_id, unread_count, inbound_count")
        now = now_ms()
        previous = await tx.fetch_val(
            "SELECT read_count FROM conversation_reads WHERE conversation_id = :c AND user_id = :u",
            c=conversation_id,
            u=user.id,
        )
        await tx.execute(
            "INSERT INTO conversation_reads (conversation_id, user_id, read_count, read_at) VALUES (:c, :u, :n, :t)"
            " ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_count = excluded.read_count,"
            " read_at = excluded.read_at",
            c=conversation_id,
            u=user.id,
            n=conv["inbound_count"],
            t=now,
        )
        if conv["owner_id"] is not None and conv["owner_id"] != user.id:
            # Someone else's conversation: only this user's own count moves, no ticks.
            if previous != conv["inbound_count"]:
                await store.emit(
                    tx,
                    "conversation.read",
                    conversation_id,
                    conv["owner_id"],
                    {"conversationId": conversation_id, "unreadCount": 0},
                    user_id=user.id,
                )
                await store.emit_conversation(tx, conversation_id, for_user=user)
            view = await queries.get_conversation(tx, conversation_id, user)
            assert view is not None
            return view, None
        newest = await tx.fetch_one(
            "SELECT wamid, status FROM messages WHERE conversation_id = :c AND direction = 'inbound'"
            " AND wamid IS NOT NULL ORDER BY id DESC LIMIT 1",
            c=conversation_id,
        )
        changed = bool(
            await tx.fetch_all(
                "UPDATE messages SET status = 'read', read_at = :t WHERE conversation_id = :c"
                " AND direction = 'inbound' AND status = 'received' RETURNING id",
                t=now,
                c=conversation_id,
            )
        )
        if conv["unread_count"] or changed:
            await tx.execute("UPDATE conversations SET unread_count = 0 WHERE id = :id", id=conversation_id)
            # The assignee's read is theirs alone; an unassigned conversation's is the queue's.
            await store.emit(
                tx,
                "conversation.read",
                conversation_id,
                conv["owner_id"],
                {"conversationId": conversation_id, "unreadCount": 0},
                user_id=user.id if conv["owner_id"] is not None else None,
            )
            await store.emit_conversation(tx, conversation_id)
        view = await queries.get_conversation(tx, conversation_id, user)
        assert view is not None
        unread_wamid = newest["wamid"] if newest and (changed or newest["status"] == "received") else None
        return view, unread_wamid

    return await store.db.write(job)
