"""Messages that change other messages or the customer, rather than adding a bubble:
`edit` and `revoke` (numbers shared with the WhatsApp Business app), and the `system`
events that give a customer a new number or a new user id.

Each is applied to what it points at, so the thread shows an edited or deleted message and
replies follow the customer to the new number. What it points at may be unknown (sent
before this server, or arriving out of order): then it is stored as a message of its own,
so nothing Meta sent is lost.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .db import Tx
from .phones import from_wa_id, match_key
from .store import Store
from .webhook import Inbound, Sender

AMENDMENTS = ("edit", "revoke", "system")


async def apply(tx: Tx, store: Store, msg: Inbound) -> str:
    """Apply one amendment; the count it adds to ("messages", "duplicates", "ignored")."""
    if msg.type in ("edit", "revoke"):
        return await _edit_or_revoke(tx, store, msg)
    return await _system(tx, store, msg)


async def _edit_or_revoke(tx: Tx, store: Store, msg: Inbound) -> str:
    data = msg.data if isinstance(msg.data, dict) else {}
    target = await tx.fetch_one(
        "SELECT m.id, m.data, m.conversation_id, c.owner_id, c.last_message_id FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.wamid = :w AND m.direction = 'inbound'",
        w=data.get("originalWamid") or "",
    )
    if target is None:
        return "messages" if await store._inbound(tx, msg) else "duplicates"
    old = json.loads(target["data"]) if target["data"] else None
    merged: dict[str, Any] = old if isinstance(old, dict) else ({"original": old} if old is not None else {})
    if msg.type == "revoke":
        merged.update({"deleted": True, "deletedAt": msg.timestamp_ms})
        await tx.execute(
            "UPDATE messages SET content = '', data = :d WHERE id = :id",
            d=json.dumps(merged, ensure_ascii=False),
            id=target["id"],
        )
    else:
        merged.update({"edited": True, "editedAt": msg.timestamp_ms})
        await tx.execute(
            "UPDATE messages SET content = :c, data = :d WHERE id = :id",
            c=msg.content,
            d=json.dumps(merged, ensure_ascii=False),
            id=target["id"],
        )
    await store.emit_message(tx, "message.updated", target["id"], target["owner_id"])
    if target["last_message_id"] == target["id"]:
        await store.emit_conversation(tx, target["conversation_id"])
    return "messages"


async def _system(tx: Tx, store: Store, msg: Inbound) -> str:
    body = msg.data if isinstance(msg.data, dict) else {}
    number_id = msg.business_number_id or store.default_number_id
    kind = body.get("type")
    if kind == "user_changed_number":
        new_phone = from_wa_id(body.get("wa_id") or body.get("new_wa_id"))
        if msg.sender.phone and new_phone:
            await _move_to_number(tx, store, number_id, msg.sender.phone, new_phone)
            msg = dataclasses.replace(msg, sender=Sender(new_phone, msg.sender.user_id, msg.sender.name))
    elif kind == "user_changed_user_id":
        previous, current = body.get("previous_user_id"), body.get("user_id")
        conv = None
        for user_id in (previous, current):
            if user_id and conv is None:
                conv = await tx.fetch_one(
                    "SELECT id, phone_number, wa_user_id FROM conversations"
                    " WHERE wa_user_id = :u AND business_number_id = :b",
                    u=user_id,
                    b=number_id,
                )
        if conv is None:
            return "ignored"  # nobody to attach it to: never a nameless conversation
        if current and conv["wa_user_id"] != current:
            await tx.execute("UPDATE conversations SET wa_user_id = :u WHERE id = :id", u=current, id=conv["id"])
        msg = dataclasses.replace(msg, sender=Sender(conv["phone_number"], current or previous, None))
    if not msg.sender.phone and not msg.sender.user_id:
        return "ignored"
    return "messages" if await store._inbound(tx, msg) else "duplicates"


async def _move_to_number(tx: Tx, store: Store, number_id: str, old: str, new: str) -> None:
    """The customer's conversation now has their new number, so replies reach them there;
    when the new number already has a conversation, it stays as it is."""
    conv = await tx.fetch_one(
        "SELECT id FROM conversations WHERE phone_key = :k AND business_number_id = :b", k=match_key(old), b=number_id
    )
    taken = await tx.fetch_one(
        "SELECT id FROM conversations WHERE phone_key = :k AND business_number_id = :b", k=match_key(new), b=number_id
    )
    if conv is None or taken is not None:
        return
    await tx.execute(
        "UPDATE conversations SET phone_number = :p, phone_key = :k WHERE id = :id",
        p=new,
        k=match_key(new),
        id=conv["id"],
    )
    await store.emit_conversation(tx, conv["id"])
