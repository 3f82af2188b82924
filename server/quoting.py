"""Quote-reply: an agent's reply that quotes an earlier message of the same conversation.

WhatsApp shows the quote above the reply when the send carries `context.message_id`, the
quoted message's wamid; so only a message that went through WhatsApp (a customer's, or a
reply of ours that was accepted) can be quoted, never a note or an unsent reply. The reply
keeps the quoted wamid (`messages.reply_to_wamid`, as customers' quotes do), and the API
shows it as `replyTo`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .db import Tx
from .errors import Invalid

MAX_ID = 2**62


def parse_reply_to(body: dict[str, Any]) -> int | None:
    """The `replyTo` of a send: a message id, or None."""
    value = body.get("replyTo")
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Invalid("replyTo must be the id of a message of this conversation", "invalid_reply_to")
    return value


def attach(reply_to: int) -> Callable[[Tx, int], Awaitable[None]]:
    """The `after_insert` of a reply that quotes message `reply_to`: checked and recorded in
    the reply's own transaction, so a wrong quote stores nothing and sends nothing."""

    async def hook(tx: Tx, message_id: int) -> None:
        reply = await tx.fetch_one("SELECT conversation_id FROM messages WHERE id = :id", id=message_id)
        quoted = await tx.fetch_one("SELECT conversation_id, wamid, type FROM messages WHERE id = :id", id=reply_to)
        if reply is None or quoted is None or quoted["conversation_id"] != reply["conversation_id"]:
            raise Invalid(f"replyTo: message {reply_to} is not a message of this conversation", "invalid_reply_to")
        if not quoted["wamid"] or quoted["type"] in ("note", "activity", "reaction"):
            raise Invalid(
                "replyTo: only a message that went through WhatsApp can be quoted (not a note, a failed or"
                " unsent reply)",
                "reply_to_not_sent",
            )
        await tx.execute("UPDATE messages SET reply_to_wamid = :w WHERE id = :id", w=quoted["wamid"], id=message_id)

    return hook


def with_quote(
    after_insert: Callable[[Tx, int], Awaitable[None]] | None, reply_to: int | None
) -> Callable[[Tx, int], Awaitable[None]] | None:
    """A reply's `after_insert` (e.g. recording its file) followed by recording its quote."""
    if reply_to is None:
        return after_insert
    quote = attach(reply_to)
    if after_insert is None:
        return quote
    first = after_insert

    async def both(tx: Tx, message_id: int) -> None:
        await first(tx, message_id)
        await quote(tx, message_id)

    return both


def quoted_wamid(message: dict[str, Any]) -> str | None:
    """The wamid a stored reply quotes (its `context.message_id`), from the API's view of it."""
    reply = message.get("replyTo")
    return str(reply["wamid"]) if isinstance(reply, dict) and reply.get("wamid") else None
