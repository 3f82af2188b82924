"""Who a conversation is assigned to, and where it stands (open, pending, resolved, snoozed).

Assigning moves the conversation between dashboards: the new assignee's receive it
(conversation.updated), the previous assignee's are told to drop it (conversation.removed,
addressed to them) and, since events follow the conversation's assignee, stop receiving its
events. Snoozed conversations reopen by themselves when their time comes (`SnoozeWaker`),
also after a restart: the time is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from . import activity, queries
from .auth import User
from .db import Tx, now_ms
from .errors import Forbidden, Invalid
from .store import Store
from .visibility import may_see, visible_conversation

log = logging.getLogger(__name__)

STATUSES = queries.STATUSES
MAX_WAIT_S = 30.0  # the waker looks again at least this often (another process may snooze)


async def _visible(tx: Tx, user: User, conversation_id: int) -> dict[str, Any]:
    return await visible_conversation(tx, user, conversation_id, "id, owner_id, status, snoozed_until")


async def _as_viewer(tx: Tx, user_id: int, sees_unassigned: bool) -> User | None:
    row = await tx.fetch_one(
        "SELECT id, email, name, is_admin FROM users WHERE id = :id AND deactivated_at IS NULL", id=user_id
    )
    if row is None:
        return None
    return User(row["id"], row["email"], bool(row["is_admin"]), row["name"] or "", sees_unassigned)


async def _active_agents(tx: Tx) -> list[int]:
    rows = await tx.fetch_all("SELECT id FROM users WHERE is_admin = 0 AND deactivated_at IS NULL ORDER BY id")
    return [r["id"] for r in rows]


async def assign(store: Store, actor: User, conversation_id: int, assignee_id: int | None) -> dict[str, Any]:
    """Admins assign anything to anyone (None: the queue); an agent hands their own to another
    active user, or claims from the queue (and gives their own back to it) when they may see it."""

    async def job(tx: Tx) -> dict[str, Any]:
        conv = await _visible(tx, actor, conversation_id)
        previous = conv["owner_id"]
        target = None
        if assignee_id is not None:
            target = await _as_viewer(tx, assignee_id, actor.sees_unassigned)
            if target is None:
                raise Invalid(f"there is no active user {assignee_id}")
        if not actor.is_admin:
            hands_over = previous == actor.id and target is not None
            claims = previous is None and actor.sees_unassigned and assignee_id == actor.id
            # Where agents may claim from the queue, they may also put their own back in it.
            hands_back = previous == actor.id and assignee_id is None and actor.sees_unassigned
            if not (hands_over or claims or hands_back):
                raise Forbidden(
                    "agents can hand over their own conversations and claim unassigned ones"
                    + ("" if actor.sees_unassigned else " (the unassigned queue is for admins here)")
                )
        if previous == assignee_id:
            view = await queries.get_conversation(tx, conversation_id, actor)
            assert view is not None
            return view
        await tx.execute("UPDATE conversations SET owner_id = :o WHERE id = :id", o=assignee_id, id=conversation_id)
        if target is None:
            text = f"{actor.display_name} unassigned this"
        elif target.id == actor.id:
            text = f"{actor.display_name} took this"
        else:
            text = f"{actor.display_name} assigned this to {target.display_name}"
        await activity.record(
            store,
            tx,
            conversation_id,
            assignee_id,
            actor,
            text,
            {"action": "assigned", "from": previous, "to": assignee_id},
        )
        await store.emit_conversation(tx, conversation_id)
        # Whoever saw it before and no longer does drops it from their list.
        if previous is not None:
            losing = [previous]
        elif actor.sees_unassigned:
            losing = await _active_agents(tx)  # the queue, as every agent saw it
        else:
            losing = []
        for user_id in losing:
            viewer = await _as_viewer(tx, user_id, actor.sees_unassigned)
            if viewer is not None and may_see(viewer, previous) and not may_see(viewer, assignee_id):
                await store.emit(
                    tx,
                    "conversation.removed",
                    conversation_id,
                    assignee_id,
                    {"conversationId": conversation_id},
                    user_id=user_id,
                )
        view = await queries.get_conversation(tx, conversation_id, actor)
        assert view is not None
        return view

    return await store.db.write(job)


def _status_text(name: str, status: str, until: int | None) -> str:
    if status == "resolved":
        return f"{name} resolved this"
    if status == "pending":
        return f"{name} marked this pending"
    if status == "snoozed" and until is not None:
        when = datetime.fromtimestamp(until / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{name} snoozed this until {when}"
    return f"{name} reopened this"


def parse_status(body: dict[str, Any]) -> tuple[str, int | None]:
    status = body.get("status")
    if status not in STATUSES:
        raise Invalid("status must be one of " + ", ".join(STATUSES))
    until = body.get("snoozedUntil")
    if status != "snoozed":
        return status, None
    if isinstance(until, bool) or not isinstance(until, (int, float)) or until != until:
        raise Invalid("snoozed needs snoozedUntil: a time in milliseconds since the epoch")
    if not now_ms() < until < 2**53:
        raise Invalid("snoozedUntil must be in the future")
    return status, int(until)


class SnoozeWaker:
    """Reopens snoozed conversations when their time comes. Each process runs one; the
    reopening UPDATE is atomic, so two processes never reopen one conversation twice."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """A snooze was set: look again at when the next one ends."""
        self._poke.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="snooze-waker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wake_due(self) -> int:
        async def job(tx: Tx) -> int:
            rows = await tx.fetch_all(
                "UPDATE conversations SET status = 'open', snoozed_until = NULL"
                " WHERE status = 'snoozed' AND snoozed_until <= :t RETURNING id, owner_id",
                t=now_ms(),
            )
            for row in rows:
                await activity.add_internal(
                    self.store,
                    tx,
                    row["id"],
                    row["owner_id"],
                    None,
                    activity.ACTIVITY,
                    "Snooze ended: reopened",
                    {"action": "status", "status": "open", "reason": "snooze ended"},
                )
                await self.store.emit_conversation(tx, row["id"])
            return len(rows)

        return await self.store.db.write(job)

    async def _run(self) -> None:
        while True:
            self._poke.clear()
            wait = MAX_WAIT_S
            try:
                await self.wake_due()
                nxt = await self.store.db.fetch_val(
                    "SELECT MIN(snoozed_until) FROM conversations WHERE status = 'snoozed'"
                )
                if nxt is not None:
                    wait = min(MAX_WAIT_S, max(0.0, (int(nxt) - now_ms()) / 1000))
            except Exception:
                log.exception("reopening snoozed conversations failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), wait)


async def set_status(
    store: Store, actor: User, conversation_id: int, status: str, snoozed_until: int | None
) -> dict[str, Any]:
    async def job(tx: Tx) -> dict[str, Any]:
        conv = await _visible(tx, actor, conversation_id)
        if conv["status"] != status or conv["snoozed_until"] != snoozed_until:
            await tx.execute(
                "UPDATE conversations SET status = :s, snoozed_until = :u WHERE id = :id",
                s=status,
                u=snoozed_until,
                id=conversation_id,
            )
            await activity.record(
                store,
                tx,
                conversation_id,
                conv["owner_id"],
                actor,
                _status_text(actor.display_name, status, snoozed_until),
                {"action": "status", "status": status, "snoozedUntil": snoozed_until},
            )
            await store.emit_conversation(tx, conversation_id)
        view = await queries.get_conversation(tx, conversation_id, actor)
        assert view is not None
        return view

    return await store.db.write(job)
