"""Who a customer is: the name people gave them, their WhatsApp profile name, and the small
contact panel (number, invitation, first contact, other conversations).

Two names are kept apart because they come from different people: the profile name is the
customer's own and follows every webhook; the name from an invitation or an agent is the
business's and must never be overwritten by it (issue 16).
"""

from __future__ import annotations

import json
from typing import Any

from . import merge, queries
from .auth import User, display_name
from .db import Tx, now_ms
from .errors import Conflict, Forbidden, Invalid, NotFound
from .queries import Reader, iso
from .store import Store
from .visibility import visible_conversation

MAX_NAME = 200


def given_name(body: dict[str, Any]) -> str | None:
    """The `contactName` of a PATCH body: text, or null / "" to go back to the profile name."""
    if "contactName" not in body:
        raise Invalid("give contactName: the name to show, or null to show the WhatsApp profile name", "name_required")
    name = body["contactName"]
    if name is not None and not isinstance(name, str):
        raise Invalid("contactName must be text or null", "name_not_text")
    name = " ".join((name or "").split())
    if len(name) > MAX_NAME:
        raise Invalid(f"contactName is longer than {MAX_NAME} characters", "name_too_long")
    return name or None


async def rename(store: Store, user: User, conversation_id: int, name: str | None) -> dict[str, Any]:
    """Give the contact a name (None: show the profile name again); announced to dashboards."""

    async def job(tx: Tx) -> dict[str, Any]:
        await visible_conversation(tx, user, conversation_id)
        await tx.execute(
            "UPDATE conversations SET given_name = :n, contact_name = COALESCE(:n, profile_name) WHERE id = :id",
            n=name,
            id=conversation_id,
        )
        await store.emit_conversation(tx, conversation_id)
        view = await queries.get_conversation(tx, conversation_id)
        assert view is not None
        return view

    return await store.db.write(job)


async def contact_panel(reader: Reader, user: User, conversation_id: int) -> dict[str, Any]:
    """What the dashboard's contact panel shows about the customer of one conversation."""
    await visible_conversation(reader, user, conversation_id)
    conv = await reader.fetch_one(
        "SELECT c.id, c.owner_id, c.phone_number, c.phone_key, c.wa_user_id, c.contact_name, c.given_name,"
        " c.profile_name, c.created_at, c.labels, c.business_number_id, n.display_name AS number_name"
        " FROM conversations c LEFT JOIN business_numbers n ON n.id = c.business_number_id WHERE c.id = :id",
        id=conversation_id,
    )
    assert conv is not None  # visible_conversation found it
    invitation = None
    if conv["phone_key"]:
        row = await reader.fetch_one(
            "SELECT i.name, i.owner_id, i.created_at, u.email, u.name AS user_name FROM invitations i"
            " LEFT JOIN users u ON u.id = i.owner_id WHERE i.phone_key = :k",
            k=conv["phone_key"],
        )
        if row is not None:
            invitation = {
                "name": row["name"],
                "invitedById": row["owner_id"],
                "invitedBy": row["email"],
                "invitedByName": display_name(row["user_name"], row["email"]) if row["email"] else None,
                "invitedAt": iso(row["created_at"]),
            }
    # The same person on other business numbers, or merged from another thread, counts too.
    same = await reader.fetch_all(
        "SELECT id, created_at FROM conversations WHERE (phone_key = :k AND :k <> '') OR (wa_user_id = :u AND :u <> '')"
        " OR id = :id",
        k=conv["phone_key"] or "",
        u=conv["wa_user_id"] or "",
        id=conversation_id,
    )
    first = await reader.fetch_one(
        "SELECT MIN(created_at) AS at FROM messages WHERE conversation_id = :id"
        " AND direction IN ('inbound', 'outbound')",
        id=conversation_id,
    )
    first_at = min([r["created_at"] for r in same] + ([first["at"]] if first and first["at"] is not None else []))
    return {
        "conversationId": conversation_id,
        "phoneNumber": conv["phone_number"],
        "waUserId": conv["wa_user_id"],
        "contactName": conv["contact_name"],
        "givenName": conv["given_name"],
        "profileName": conv["profile_name"],
        "invitation": invitation,
        "firstContactAt": iso(first_at),
        "conversationCount": len(same),
        "labels": json.loads(conv["labels"] or "[]"),
        "businessNumberId": conv["business_number_id"] or None,
        "businessNumberName": conv["number_name"],
    }


async def merge_conversations(store: Store, user: User, keep_id: int, other_id: int) -> dict[str, Any]:
    """An admin's "these two are the same person": every message of `other_id` moves into
    `keep_id` (once, in the order they arrived), and the thread says who merged them."""
    if not user.is_admin:
        raise Forbidden("only admins can merge conversations", "admin_only")
    if keep_id == other_id:
        raise Invalid("a conversation cannot be merged with itself", "merge_same")

    async def job(tx: Tx) -> dict[str, Any]:
        rows = {
            r["id"]: r
            for r in await tx.fetch_all(
                "SELECT id, owner_id, business_number_id, phone_number, wa_user_id, contact_name FROM conversations"
                " WHERE id IN (:a, :b)",
                a=keep_id,
                b=other_id,
            )
        }
        for conversation_id in (keep_id, other_id):
            if conversation_id not in rows:
                raise NotFound(f"conversation {conversation_id} not found", "conversation_not_found")
        keep, other = rows[keep_id], rows[other_id]
        if keep["business_number_id"] != other["business_number_id"]:
            raise Conflict(
                "these conversations are on different business numbers: replies could not leave from one number",
                "merge_across_numbers",
            )
        for field, label in (("phone_number", "phone numbers"), ("wa_user_id", "WhatsApp user ids")):
            if keep[field] and other[field] and keep[field] != other[field]:
                raise Conflict(f"these conversations have different {label}: they are not one person", "merge_mismatch")
        await merge.fold(tx, keep_id, other_id)
        who = other["contact_name"] or other["phone_number"] or other["wa_user_id"] or f"#{other_id}"
        text = f"{user.email} merged the conversation with {who} (#{other_id}) into this one"
        line_id = await tx.fetch_val(
            "INSERT INTO messages (conversation_id, direction, type, content, data, status, sender_user_id, created_at)"
            " VALUES (:c, 'internal', 'activity', :content, :data, 'internal', :u, :at) RETURNING id",
            c=keep_id,
            content=text,
            data=json.dumps({"action": "merged", "mergedConversationId": other_id, "by": user.id}),
            u=user.id,
            at=now_ms(),
        )
        owner = await tx.fetch_val("SELECT owner_id FROM conversations WHERE id = :id", id=keep_id)
        await store.emit_message(tx, "message.created", line_id, owner)
        merged = {"conversationId": other_id, "into": keep_id}
        await store.emit(tx, "conversation.merged", other_id, other["owner_id"], merged)
        await store.emit_conversation(tx, keep_id)
        view = await queries.get_conversation(tx, keep_id)
        assert view is not None
        return view

    return await store.db.write(job)
