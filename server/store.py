"""The one place that writes. Every write runs on the database's single writer, and every
change that a dashboard should see appends an event in the same transaction, so the event
log and the data can never disagree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import merge, queries
from .auth import User
from .db import Database, Tx, now_ms
from .errors import Conflict, Forbidden, Invalid, NotFound, Refused  # noqa: F401 (Refused: old importers)
from .media_files import queue_download
from .phones import InvalidPhone, lookup_keys, match_key, normalize
from .visibility import may_see, visible_conversation
from .webhook import Inbound, Reaction
from .whatsapp import error_object

log = logging.getLogger(__name__)

# Statuses only move forward. `failed` may replace pending/sent, never delivered/read.
RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}
FAILED_BEATS = ("pending", "sent")


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Outbound:
    message: dict[str, Any]
    to: str | None  # wa_id (or user id) to send to; None for a duplicate, which is not sent again
    duplicate: bool
    number_id: str | None = None  # the business number it leaves from: the one the customer wrote to


class UnknownNumber(ValueError):
    """A webhook for a business number this server does not serve."""

    def __init__(self, number_id: str) -> None:
        super().__init__(
            f"business number {number_id} is not one of this server's numbers: an admin can add it"
            " (POST /api/numbers), then replay the webhook"
        )
        self.number_id = number_id


class Store:
    def __init__(self, db: Database, default_region: str = "", publish: Callable[[dict[str, Any]], None] | None = None):
        self.db = db
        self.default_region = default_region
        # The business number new conversations start on (the first configured; app.py).
        self.default_number_id = ""
        self.publish = publish or (lambda event: None)
        # Called once a commit queued media downloads (the app wakes its downloader).
        self.media_queued: Callable[[], None] = lambda: None
        # Called once a commit applied a template status update for a template the local copy
        # does not have (the app syncs the copy; server/templates.py).
        self.templates_unknown: Callable[[], None] = lambda: None
        # The server's background sender (server/delivery.py); None in the CLI, which sends
        # in the foreground. Replies stored here name the process sending them (send_by).
        self.deliveries: Any = None
        # READ_RECEIPTS (server/receipts.py): a reply may give the customer blue ticks.
        self.receipts: Any = None
        self.process_id: str | None = None

    # -- events --------------------------------------------------------------------------
    async def _emit(
        self,
        tx: Tx,
        type_: str,
        conversation_id: int | None,
        owner_id: int | None,
        data: Any,
        user_id: int | None = None,
    ) -> None:
        """`owner_id`: the conversation's assignee, whose visibility the event follows;
        `user_id`: the one user the event is for, whoever else may see the conversation."""
        created = now_ms()
        event_id = await tx.fetch_val(
            "INSERT INTO events (type, conversation_id, owner_id, data, created_at, user_id)"
            " VALUES (:t, :c, :o, :d, :at, :u) RETURNING id",
            t=type_,
            c=conversation_id,
            o=owner_id,
            d=_dump(data),
            at=created,
            u=user_id,
        )
        event = {
            "id": event_id,
            "type": type_,
            "conversationId": conversation_id,
            "data": data,
            "ownerId": owner_id,
            "userId": user_id,
        }
        tx.after_commit.append(lambda: self.publish(event))

    async def _emit_conversation(self, tx: Tx, conversation_id: int, for_user: User | None = None) -> None:
        """conversation.updated for everyone who may see it, or only for `for_user` (with
        that user's unread count)."""
        row = await queries.get_conversation_row(tx, conversation_id, for_user)
        if row is not None:
            await self._emit(
                tx,
                "conversation.updated",
                conversation_id,
                row["owner_id"],
                queries.conversation_view(row),
                user_id=for_user.id if for_user else None,
            )

    # Other modules that write (server/assignments.py, notes.py, labels.py, …) append their
    # events through these, in their own transactions.
    emit = _emit
    emit_conversation = _emit_conversation

    async def _emit_message(self, tx: Tx, type_: str, message_id: int, owner_id: int | None) -> dict[str, Any]:
        message = await queries.get_message(tx, message_id)
        assert message is not None
        await self._emit(tx, type_, message["conversationId"], owner_id, message)
        return message

    emit_message = _emit_message

    async def prune_events(self, older_than_ms: int) -> int:
        async def job(tx: Tx) -> int:
            return len(await tx.fetch_all("DELETE FROM events WHERE created_at < :t RETURNING id", t=older_than_ms))

        return await self.db.write(job)

    # -- users, tokens, invitations -------------------------------------------------------
    async def create_user(self, email: str, password_hash: str, is_admin: bool, name: str | None = None) -> int:
        async def job(tx: Tx) -> int:
            if await tx.fetch_one("SELECT id FROM users WHERE email = :e", e=email):
                raise Conflict(f"a user with email {email} already exists", "email_taken")
            user_id: int = await tx.fetch_val(
                "INSERT INTO users (email, password_hash, is_admin, created_at, name)"
                " VALUES (:e, :h, :a, :t, :n) RETURNING id",
                e=email,
                h=password_hash,
                a=1 if is_admin else 0,
                t=now_ms(),
                n=name,
            )
            return user_id

        return await self.db.write(job)

    async def add_token(self, user_id: int, token_hash: str) -> None:
        async def job(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO tokens (user_id, token_hash, created_at) VALUES (:u, :h, :t)",
                u=user_id,
                h=token_hash,
                t=now_ms(),
            )

        await self.db.write(job)

    async def add_invitation(self, owner_id: int, name: str, phone: str, user: User | None = None) -> dict[str, Any]:
        """Store an invitation. An invitation is for a customer who has not written yet: the
        number's conversation will be assigned to its owner. `user` (who asks; None: the CLI,
        an admin's) never learns about a conversation or invitation it may not see."""
        name = (name or "").strip()
        if not name:
            raise Invalid("name is required", "name_required")
        try:
            e164 = normalize(phone, self.default_region)
        except InvalidPhone as exc:
            raise Invalid(str(exc), "invalid_phone") from None
        key = match_key(e164)

        async def job(tx: Tx) -> dict[str, Any]:
            existing = await tx.fetch_one("SELECT owner_id FROM invitations WHERE phone_key = :k", k=key)
            if existing is not None:
                # Agents are not told who invited it: that would say which numbers others serve.
                who = " by you" if existing["owner_id"] == owner_id else ""
                raise Conflict(f"{e164} is already invited{who}", "already_invited")
            if user is not None and not user.is_admin:
                conv = await tx.fetch_one("SELECT owner_id FROM conversations WHERE phone_key = :k", k=key)
                if conv is not None and not may_see(user, conv["owner_id"]):
                    raise Conflict(
                        f"{e164} already has a conversation: ask an admin to assign it to you", "not_assigned_to_you"
                    )
            created = now_ms()
            inv_id = await tx.fetch_val(
                "INSERT INTO invitations (owner_id, name, phone_number, phone_key, created_at)"
                " VALUES (:o, :n, :p, :k, :t) RETURNING id",
                o=owner_id,
                n=name,
                p=e164,
                k=key,
                t=created,
            )
            claimed = await tx.fetch_all(
                "SELECT id FROM conversations WHERE phone_key = :k AND owner_id IS NULL", k=key
            )
            for row in claimed:
                await tx.execute("UPDATE conversations SET owner_id = :o WHERE id = :id", o=owner_id, id=row["id"])
            # The invitation's name is the contact's name unless an agent already gave one.
            named = await tx.fetch_all(
                "UPDATE conversations SET given_name = :n, contact_name = :n"
                " WHERE phone_key = :k AND given_name IS NULL RETURNING id",
                n=name,
                k=key,
            )
            for conv_id in dict.fromkeys([r["id"] for r in claimed] + [r["id"] for r in named]):
                await self._emit_conversation(tx, conv_id)
            return {
                "id": inv_id,
                "name": name,
                "phoneNumber": e164,
                "ownerId": owner_id,
                "createdAt": queries.iso(created),
            }

        return await self.db.write(job)

    # -- conversations -------------------------------------------------------------------
    async def _conversation_for(
        self, tx: Tx, phone: str | None, user_id: str | None, name: str | None, at: int, number_id: str = ""
    ) -> dict[str, Any]:
        """Find or create the contact's conversation on business number `number_id` (default:
        the first): by phone number, else by Meta's user id. Another business number's
        conversations are never matched: a conversation is one customer on one number."""
        number_id = number_id or self.default_number_id
        key = match_key(phone) if phone else None
        row = None
        if key:
            row = await tx.fetch_one(
                "SELECT id, owner_id, wa_user_id, contact_name, profile_name FROM conversations"
                " WHERE phone_key = :k AND business_number_id = :b",
                k=key,
                b=number_id,
            )
        if row is None and user_id:
            row = await tx.fetch_one(
                "SELECT id, owner_id, wa_user_id, contact_name, profile_name, phone_key FROM conversations"
                " WHERE wa_user_id = :u AND business_number_id = :b",
                u=user_id,
                b=number_id,
            )
            if row is not None and key and row.get("phone_key") is None:
                await tx.execute(
                    "UPDATE conversations SET phone_number = :p, phone_key = :k WHERE id = :id",
                    p=phone,
                    k=key,
                    id=row["id"],
                )
        if row is not None and key and user_id and row["wa_user_id"] != user_id:
            # A message with both the number and the user id: an earlier thread known only by
            # the user id is the same person, and joins this one.
            alone = await tx.fetch_one(
                "SELECT id FROM conversations WHERE wa_user_id = :u AND business_number_id = :b"
                " AND phone_key IS NULL AND id <> :id",
                u=user_id,
                b=number_id,
                id=row["id"],
            )
            if alone is not None:
                await merge.fold(tx, row["id"], alone["id"])
                merged = {"conversationId": alone["id"], "into": row["id"]}
                await self._emit(tx, "conversation.merged", alone["id"], row["owner_id"], merged)
                row["wa_user_id"] = user_id
        if row is not None:
            if user_id and not row["wa_user_id"]:
                clash = await tx.fetch_one(
                    "SELECT id FROM conversations WHERE wa_user_id = :u AND business_number_id = :b",
                    u=user_id,
                    b=number_id,
                )
                if clash is None:
                    await tx.execute("UPDATE conversations SET wa_user_id = :u WHERE id = :id", u=user_id, id=row["id"])
            if name and name != row["profile_name"]:
                # The profile name follows WhatsApp; the name shown only while nobody gave one.
                await tx.execute(
                    "UPDATE conversations SET profile_name = :n, contact_name = COALESCE(given_name, :n)"
                    " WHERE id = :id",
                    n=name,
                    id=row["id"],
                )
            return row
        owner, given = None, None
        if key:
            invited = await tx.fetch_one("SELECT owner_id, name FROM invitations WHERE phone_key = :k", k=key)
            if invited is not None:
                owner, given = invited["owner_id"], invited["name"]
        conv_id = await tx.fetch_val(
            "INSERT INTO conversations (phone_number, phone_key, wa_user_id, contact_name, profile_name, given_name,"
            " owner_id, last_message_at, unread_count, created_at, business_number_id)"
            " VALUES (:p, :k, :u, :n, :pn, :g, :o, :at, 0, :t, :b) RETURNING id",
            b=number_id,
            p=phone,
            k=key,
            u=user_id,
            n=given or name,
            pn=name,
            g=given,
            o=owner,
            at=at,
            t=now_ms(),
        )
        return {"id": conv_id, "owner_id": owner, "wa_user_id": user_id, "contact_name": given or name}

    async def _touch_conversation(self, tx: Tx, conversation_id: int, message_id: int, at: int, inbound: bool) -> None:
        """Make the message the conversation's last one unless a newer one is already there."""
        await tx.execute(
            "UPDATE conversations SET last_message_id = :m, last_message_at = :at"
            " WHERE id = :id AND (last_message_at IS NULL OR last_message_at <= :at OR last_message_id IS NULL)",
            m=message_id,
            at=at,
            id=conversation_id,
        )
        if inbound:
            # A customer writing again reopens a resolved or snoozed conversation.
            await tx.execute(
                "UPDATE conversations SET unread_count = unread_count + 1, inbound_count = inbound_count + 1,"
                " status = CASE WHEN status IN ('resolved', 'snoozed') THEN 'open' ELSE status END,"
                " snoozed_until = CASE WHEN status IN ('resolved', 'snoozed') THEN NULL ELSE snoozed_until END,"
                " last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < :at"
                " THEN :at ELSE last_inbound_at END WHERE id = :id",
                at=at,
                id=conversation_id,
            )

    # -- webhook ingest: what server/ingest.py applies, item by item ----------------------
    async def prune_pending_statuses(self, older_than_ms: int) -> int:
        """Statuses for wamids this server never sent (another app on the same number) are
        kept as long as Meta may still retry them, then dropped."""

        async def job(tx: Tx) -> int:
            return len(
                await tx.fetch_all("DELETE FROM pending_statuses WHERE created_at < :t RETURNING id", t=older_than_ms)
            )

        return await self.db.write(job)

    async def _inbound(self, tx: Tx, msg: Inbound) -> bool:
        """Store one customer message; False when Meta re-delivered one we already have."""
        if await tx.fetch_one("SELECT id FROM messages WHERE wamid = :w", w=msg.wamid):
            return False
        number_id = msg.business_number_id or self.default_number_id
        if not await tx.fetch_one("SELECT id FROM business_numbers WHERE id = :b", b=number_id):
            # Never merged into another number's conversations: kept, shown to admins, and
            # applied by a replay once an admin adds the number.
            raise UnknownNumber(number_id)
        conv = await self._conversation_for(
            tx, msg.sender.phone, msg.sender.user_id, msg.sender.name, msg.timestamp_ms, number_id
        )
        media_id = str(msg.media["id"]) if msg.media and msg.media.get("id") else None
        message_id = await tx.fetch_val(
            "INSERT INTO messages (conversation_id, wamid, direction, type, content, media, data, reply_to_wamid,"
            " status, error, created_at) VALUES (:c, :w, 'inbound', :t, :content, :media, :data, :reply,"
            " 'received', :err, :at) ON CONFLICT (wamid) DO NOTHING RETURNING id",
            c=conv["id"],
            w=msg.wamid,
            t=msg.type,
            content=msg.content,
            media=_dump({**msg.media, "status": "pending"} if msg.media and media_id else msg.media),
            data=_dump(msg.data),
            reply=msg.reply_to,
            err=_dump(msg.error),
            at=msg.timestamp_ms,
        )
        if message_id is None:
            return False
        await self._touch_conversation(tx, conv["id"], message_id, msg.timestamp_ms, inbound=True)
        if media_id:  # downloaded in the background (server/media_downloads.py), never twice
            await queue_download(tx, media_id, message_id)
            tx.after_commit.append(lambda: self.media_queued())
        await self._emit_message(tx, "message.created", message_id, conv["owner_id"])
        await self._emit_conversation(tx, conv["id"])
        return True

    async def _reaction(self, tx: Tx, reaction: Reaction) -> None:
        reactor = reaction.sender.phone or reaction.sender.user_id or "customer"
        # An older re-delivery never overrides a newer reaction; "" is kept as a tombstone.
        await tx.execute(
            "INSERT INTO reactions (message_wamid, reactor, direction, emoji, wamid, created_at)"
            " VALUES (:m, :r, 'inbound', :e, :w, :at) ON CONFLICT (message_wamid, reactor) DO UPDATE"
            " SET emoji = excluded.emoji, wamid = excluded.wamid, created_at = excluded.created_at"
            " WHERE reactions.created_at <= excluded.created_at",
            m=reaction.target_wamid,
            r=reactor,
            e=reaction.emoji,
            w=reaction.wamid,
            at=reaction.timestamp_ms,
        )
        target = await tx.fetch_one(
            "SELECT m.id, c.owner_id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.wamid = :w",
            w=reaction.target_wamid,
        )
        if target is not None:
            await self._emit_message(tx, "message.updated", target["id"], target["owner_id"])

    async def _reaction_status(self, tx: Tx, wamid: str, status: str) -> bool:
        """A status of one of our reactions (server/reactions.py): `failed` (e.g. 131009, the
        message is too old for WhatsApp) takes it off the message again. True when it was one."""
        row = await tx.fetch_one(
            "SELECT x.message_wamid, m.id, c.owner_id FROM reactions x"
            " LEFT JOIN messages m ON m.wamid = x.message_wamid LEFT JOIN conversations c ON c.id = m.conversation_id"
            " WHERE x.wamid = :w AND x.direction = 'outbound'",
            w=wamid,
        )
        if row is None:
            return False
        if status == "failed":
            log.warning("WhatsApp did not deliver reaction %s: removed from message %s", wamid, row["id"])
            await tx.execute("UPDATE reactions SET emoji = '' WHERE wamid = :w", w=wamid)
            if row["id"] is not None:
                await self._emit_message(tx, "message.updated", row["id"], row["owner_id"])
        return True

    async def apply_status(self, tx: Tx, wamid: str, status: str, at: int, error: dict[str, Any] | None) -> None:
        """Move an outbound message's status forward; park it if the wamid is not known yet."""
        row = await tx.fetch_one(
            "SELECT m.id, m.status, m.conversation_id, c.owner_id, c.last_message_id FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id WHERE m.wamid = :w",
            w=wamid,
        )
        if row is None:
            if await self._reaction_status(tx, wamid, status):
                return
            await tx.execute(
                "INSERT INTO pending_statuses (wamid, status, status_at, error, created_at)"
                " VALUES (:w, :s, :at, :e, :t)",
                w=wamid,
                s=status,
                at=at,
                e=_dump(error),
                t=now_ms(),
            )
            return
        changed = False
        column = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}.get(status)
        if column == "sent_at":
            changed |= bool(
                await tx.fetch_all(
                    "UPDATE messages SET sent_at = :at WHERE id = :id AND sent_at IS NULL RETURNING id",
                    at=at,
                    id=row["id"],
                )
            )
        elif column == "delivered_at":
            changed |= bool(
                await tx.fetch_all(
                    "UPDATE messages SET delivered_at = :at WHERE id = :id AND delivered_at IS NULL RETURNING id",
                    at=at,
                    id=row["id"],
                )
            )
        elif column == "read_at":
            changed |= bool(
                await tx.fetch_all(
                    "UPDATE messages SET read_at = :at WHERE id = :id AND read_at IS NULL RETURNING id",
                    at=at,
                    id=row["id"],
                )
            )
        current = row["status"]
        if status == "failed":
            moves = current in FAILED_BEATS
        else:
            moves = current in RANK and RANK[status] > RANK[current]
        if moves:
            await tx.execute(
                "UPDATE messages SET status = :s, error = :e WHERE id = :id",
                s=status,
                e=_dump(error) if status == "failed" else None,
                id=row["id"],
            )
            changed = True
        if changed:
            await self._emit_message(tx, "message.updated", row["id"], row["owner_id"])
            if moves and row["last_message_id"] == row["id"]:
                await self._emit_conversation(tx, row["conversation_id"])

    # -- outbound ------------------------------------------------------------------------
    async def create_outbound(
        self,
        user: User,
        content: str,
        phone: str | None = None,
        conversation_id: int | None = None,
        client_id: str | None = None,
        *,
        kind: str = "text",
        media: dict[str, Any] | None = None,
        data: Any = None,
        after_insert: Callable[[Tx, int], Awaitable[None]] | None = None,
        number_id: str | None = None,
    ) -> Outbound:
        """Store the agent's message as pending before anything is sent, so nothing is lost.
        `kind` is the message type: a `template` may be sent when the 24-hour window is closed;
        `after_insert(tx, message_id)` runs in the same transaction (e.g. to record a file).
        `number_id`: the business number of a conversation started by phone number (default:
        the conversation the customer last wrote in, else the first number)."""
        content = (content or "").strip("\n")
        if kind == "text" and not content.strip():
            raise Invalid("content is empty: type a message to send", "content_empty")
        if len(content) > 4096:
            raise Invalid("content is longer than WhatsApp's 4096 characters", "content_too_long")
        e164 = None
        refusal: str | None = None
        if conversation_id is None:
            if not phone:
                raise Invalid("give phoneNumber or conversationId", "recipient_required")
            try:
                e164 = normalize(str(phone), self.default_region)
            except InvalidPhone as exc:
                refusal = str(exc)  # unless it is the number of a customer who wrote to us

        async def job(tx: Tx) -> Outbound:
            if client_id:
                existing = await tx.fetch_val("SELECT id FROM messages WHERE client_id = :k", k=client_id)
                if existing is not None:
                    message = await queries.get_message(tx, existing)
                    assert message is not None, "the row was just found"
                    owner = await tx.fetch_val(
                        "SELECT owner_id FROM conversations WHERE id = :id", id=message["conversationId"]
                    )
                    if not may_see(user, owner):
                        raise Conflict("this clientId was already used", "client_id_used")
                    return Outbound(message, None, duplicate=True)
            at = now_ms()
            conv: dict[str, Any] | None
            if conversation_id is not None:
                conv = await visible_conversation(
                    tx,
                    user,
                    conversation_id,
                    "id, owner_id, phone_number, wa_user_id, last_inbound_at, business_number_id",
                )
            else:
                if number_id and not await tx.fetch_one("SELECT id FROM business_numbers WHERE id = :b", b=number_id):
                    raise NotFound(f"business number {number_id} not found", "business_number_not_found")
                conv = None
                for key in ([match_key(e164)] if e164 else []) + lookup_keys(str(phone)):
                    conv = await tx.fetch_one(
                        "SELECT id, owner_id, phone_number, last_inbound_at, business_number_id FROM conversations"
                        " WHERE phone_key = :k AND (business_number_id = :b OR :b = '')"
                        " ORDER BY COALESCE(last_inbound_at, 0) DESC, last_message_at DESC, id DESC LIMIT 1",
                        k=key,
                        b=number_id or "",
                    )
                    if conv is not None:
                        break
                if conv is None and e164 is None:
                    raise Invalid(refusal or "not a phone number", "invalid_phone")
                # An agent never obtains a conversation (or a number invited by someone else) by
                # writing to its number, and is not told whose it is: one answer for all cases.
                shown = conv["phone_number"] if conv is not None else e164
                not_yours = Forbidden(
                    f"{shown} is not assigned to you: ask an admin to assign it to you", "not_assigned_to_you"
                )
                if conv is None:
                    assert e164 is not None
                    invited_by = await tx.fetch_val(
                        "SELECT owner_id FROM invitations WHERE phone_key = :k", k=match_key(e164)
                    )
                    if invited_by is not None and not may_see(user, invited_by):
                        raise not_yours
                    created = await self._conversation_for(tx, e164, None, None, at, number_id or "")
                    if created["owner_id"] is None:  # no invitation: whoever started it owns it
                        await tx.execute(
                            "UPDATE conversations SET owner_id = :o WHERE id = :id", o=user.id, id=created["id"]
                        )
                    conv = await tx.fetch_one(
                        "SELECT id, owner_id, phone_number, last_inbound_at, business_number_id FROM conversations"
                        " WHERE id = :id",
                        id=created["id"],
                    )
                    assert conv is not None, "the conversation was just created"
                elif not may_see(user, conv["owner_id"]):
                    raise not_yours
            if conv["phone_number"] is None and not conv.get("wa_user_id"):
                raise Invalid("this contact has no phone number WhatsApp can send to", "no_phone_number")
            last_in = conv["last_inbound_at"]
            if kind != "template" and last_in is not None and at > last_in + queries.WINDOW_MS:
                raise Invalid(
                    "the 24-hour window is closed: the customer last wrote more than 24 hours "
                    "ago, so WhatsApp only accepts an approved template message",
                    "window_closed",
                )
            message_id = await tx.fetch_val(
                "INSERT INTO messages (conversation_id, client_id, direction, type, content, media, data, status,"
                " sender_user_id, created_at, send_by) VALUES (:c, :k, 'outbound', :t, :content, :media, :data,"
                " 'pending', :u, :at, :by) RETURNING id",
                c=conv["id"],
                k=client_id,
                t=kind,
                content=content,
                media=_dump(media),
                data=_dump(data),
                u=user.id,
                at=at,
                by=self.process_id,
            )
            if after_insert is not None:
                await after_insert(tx, message_id)
            await self._touch_conversation(tx, conv["id"], message_id, at, inbound=False)
            message = await self._emit_message(tx, "message.created", message_id, conv["owner_id"])
            await self._emit_conversation(tx, conv["id"])
            # A customer known only by user id (BSUID) is sent to by it (whatsapp.recipient).
            to = conv["phone_number"].lstrip("+") if conv["phone_number"] else conv["wa_user_id"]
            return Outbound(message, to, duplicate=False, number_id=conv["business_number_id"] or None)

        return await self.db.write(job)

    async def record_sent(self, message_id: int, wamid: str) -> dict[str, Any]:
        """Keep Meta's wamid, then apply statuses that arrived before it."""

        async def job(tx: Tx) -> dict[str, Any]:
            await tx.execute("UPDATE messages SET wamid = :w WHERE id = :id", w=wamid, id=message_id)
            parked = await tx.fetch_all(
                "SELECT id, status, status_at, error FROM pending_statuses WHERE wamid = :w ORDER BY status_at, id",
                w=wamid,
            )
            owner = await tx.fetch_val(
                "SELECT c.owner_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = :id",
                id=message_id,
            )
            message: dict[str, Any] | None = await self._emit_message(tx, "message.updated", message_id, owner)
            for p in parked:
                await self.apply_status(
                    tx, wamid, p["status"], p["status_at"], json.loads(p["error"]) if p["error"] else None
                )
            if parked:
                await tx.execute("DELETE FROM pending_statuses WHERE wamid = :w", w=wamid)
                message = await queries.get_message(tx, message_id)
            assert message is not None, "the message was just updated"
            return message

        return await self.db.write(job)

    async def record_failed(self, message_id: int, error: dict[str, Any]) -> dict[str, Any]:
        async def job(tx: Tx) -> dict[str, Any]:
            await tx.execute(
                "UPDATE messages SET status = 'failed', error = :e WHERE id = :id AND status = 'pending'",
                e=_dump(error),
                id=message_id,
            )
            row = await tx.fetch_one(
                "SELECT c.owner_id, c.id, c.last_message_id FROM messages m JOIN conversations c"
                " ON c.id = m.conversation_id WHERE m.id = :id",
                id=message_id,
            )
            assert row is not None, "the message was just updated"
            message = await self._emit_message(tx, "message.updated", message_id, row["owner_id"])
            if row["last_message_id"] == message_id:
                await self._emit_conversation(tx, row["id"])
            return message

        return await self.db.write(job)

    async def fail_abandoned_sends(self, created_before: int) -> int:
        """Replies still pending without a wamid long after their send would have ended."""
        rows = await self.db.fetch_all(
            "SELECT id FROM messages WHERE direction = 'outbound' AND status = 'pending'"
            " AND wamid IS NULL AND send_by IS NULL AND created_at < :t",
            t=created_before,
        )
        error = error_object(None, "Not sent", "the server stopped before handing the message to WhatsApp")
        error["message"] = "The server restarted before this message was sent to WhatsApp: send it again."
        for row in rows:
            await self.record_failed(row["id"], error)
        return len(rows)
