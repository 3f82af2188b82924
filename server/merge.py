"""Folding one conversation into another when they turn out to be the same person on the
same business number (a user-id-only thread and the number's, or an admin's decision).

Every message moves, once, and keeps its id, so the thread reads in the order things
arrived; the folded conversation is then removed. Callers announce the change.
"""

from __future__ import annotations

from . import conversation_labels
from .db import Tx


async def fold(tx: Tx, keep_id: int, gone_id: int) -> None:
    """Move everything of conversation `gone_id` into `keep_id` and delete it."""
    gone = await tx.fetch_one(
        "SELECT wa_user_id, phone_number, phone_key, given_name, profile_name, owner_id, unread_count, inbound_count"
        " FROM conversations WHERE id = :id",
        id=gone_id,
    )
    keep = await tx.fetch_one(
        "SELECT wa_user_id, phone_number, given_name, profile_name, owner_id FROM conversations WHERE id = :id",
        id=keep_id,
    )
    if gone is None or keep is None or keep_id == gone_id:
        return
    await tx.execute("UPDATE messages SET conversation_id = :k WHERE conversation_id = :g", k=keep_id, g=gone_id)
    # The identifiers are unique per business number: free them before the kept one takes them.
    await tx.execute("UPDATE conversations SET wa_user_id = NULL, phone_key = NULL WHERE id = :g", g=gone_id)
    await tx.execute(
        "UPDATE conversations SET wa_user_id = COALESCE(wa_user_id, :u),"
        " phone_number = COALESCE(phone_number, :p), phone_key = COALESCE(phone_key, :pk),"
        " given_name = COALESCE(given_name, :gn), profile_name = COALESCE(profile_name, :pn),"
        " contact_name = COALESCE(given_name, :gn, profile_name, :pn),"
        " owner_id = COALESCE(owner_id, :o), unread_count = unread_count + :unread,"
        " inbound_count = inbound_count + :inbound WHERE id = :k",
        u=gone["wa_user_id"],
        p=gone["phone_number"],
        pk=gone["phone_key"],
        gn=gone["given_name"],
        pn=gone["profile_name"],
        o=gone["owner_id"],
        unread=gone["unread_count"],
        inbound=gone["inbound_count"],
        k=keep_id,
    )
    last = await tx.fetch_one(
        "SELECT id, created_at FROM messages WHERE conversation_id = :k AND direction IN ('inbound', 'outbound')"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        k=keep_id,
    )
    inbound = await tx.fetch_one(
        "SELECT MAX(created_at) AS at FROM messages WHERE conversation_id = :k AND direction = 'inbound'", k=keep_id
    )
    if last is not None:
        await tx.execute(
            "UPDATE conversations SET last_message_id = :m, last_message_at = :at, last_inbound_at = :inb"
            " WHERE id = :k",
            m=last["id"],
            at=last["created_at"],
            inb=inbound["at"] if inbound else None,
            k=keep_id,
        )
    # Rows that point at the folded conversation follow it: its labels join the kept one's,
    # and each user's read position adds up (both threads' customer messages now count here).
    await tx.execute(
        "INSERT INTO conversation_labels (conversation_id, label_id)"
        " SELECT :k, label_id FROM conversation_labels WHERE conversation_id = :g"
        " ON CONFLICT (label_id, conversation_id) DO NOTHING",
        k=keep_id,
        g=gone_id,
    )
    await tx.execute("DELETE FROM conversation_labels WHERE conversation_id = :g", g=gone_id)
    await conversation_labels.store_names(tx, keep_id)
    await tx.execute(
        "INSERT INTO conversation_reads (conversation_id, user_id, read_count, read_at)"
        " SELECT :k, user_id, read_count, read_at FROM conversation_reads WHERE conversation_id = :g AND true"
        " ON CONFLICT (conversation_id, user_id) DO UPDATE"
        " SET read_count = conversation_reads.read_count + excluded.read_count",
        k=keep_id,
        g=gone_id,
    )
    await tx.execute("DELETE FROM conversation_reads WHERE conversation_id = :g", g=gone_id)
    await tx.execute("DELETE FROM conversations WHERE id = :g", g=gone_id)
