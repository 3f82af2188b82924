"""Replies are handed to WhatsApp in the background, and none is left with a clock forever.

The agent's request returns once the reply is stored (after at most SEND_WAIT seconds of
waiting for WhatsApp's answer); the outcome reaches the dashboard as a `message.updated`
event. Each stored reply names the server process that is sending it (`messages.send_by`);
every process writes a heartbeat into `server_processes`, so when one dies mid-send (a
crash, kill -9) another process, or the same one restarted, resolves its replies within
seconds: they become `failed` with `error.uncertain = true`, "may not have been sent: check
before resending". A graceful shutdown waits for sends in flight first.

What a reply's state means to the agent (README, "Send"):
- `pending`: stored, being handed to WhatsApp.
- `sent` / `delivered` / `read`: WhatsApp accepted it (it has a wamid), then Meta's ticks.
- `failed`, `error.uncertain` absent/false: WhatsApp refused it, or it never left: it did not
  reach the customer; resending is safe.
- `failed`, `error.uncertain` true: the send was cut off (timeout, crash, an answer without a
  wamid): it may or may not have reached the customer. Check before resending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from . import queries
from .db import Database, Tx, now_ms
from .store import Outbound, Store
from .whatsapp import SendError, error_object, uncertain_error

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # how often a process says it is alive (and sweeps for dead ones' replies)
DEAD_AFTER_MS = 10_000  # a process not seen for this long is gone
FORGET_AFTER_MS = 24 * 3600 * 1000  # heartbeat rows of processes gone this long are removed

Send = Callable[[str], Awaitable[str]]


class Deliveries:
    """Background sends of one server process, its heartbeat, and the sweep for dead ones."""

    def __init__(self, db: Database, store: Store, wait: float, shutdown_wait: float) -> None:
        self.db = db
        self.store = store
        self.wait = wait
        self.shutdown_wait = shutdown_wait
        self.process_id = uuid.uuid4().hex
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._beat()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beating(), name="send-heartbeat")

    async def stop(self) -> None:
        """Wait (bounded) for sends in flight; a send still running is cut off and recorded as
        uncertain, so the agent is told instead of seeing a clock."""
        if self._tasks:
            log.info("waiting for %d send(s) in flight before stopping", len(self._tasks))
            _, running = await asyncio.wait(set(self._tasks), timeout=self.shutdown_wait)
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running, timeout=5)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

        async def leave(tx: Tx) -> None:
            await tx.execute("DELETE FROM server_processes WHERE id = :id", id=self.process_id)

        with contextlib.suppress(Exception):
            await self.db.write(leave)

    def background(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run `work` as a send of this process: graceful shutdown waits for it."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver(self, outbound: Outbound, send: Send) -> dict[str, Any]:
        """Hand a stored reply to Meta in the background; the reply as it stands after at most
        `wait` seconds (its outcome if WhatsApp answered by then, else still pending)."""
        if outbound.duplicate:
            return await self._resolved(outbound.message)
        task = self.background(send_and_record(self.store, outbound, send))
        done, _ = await asyncio.wait({task}, timeout=self.wait)
        return task.result() if done else outbound.message

    async def _resolved(self, message: dict[str, Any]) -> dict[str, Any]:
        """A retried request (same Idempotency-Key) for a reply whose sender died resolves it
        now instead of returning it pending."""
        if message.get("status") != "pending":
            return message
        await self.sweep()
        return await queries.get_message(self.db, message["id"]) or message

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._beat()
                await self.sweep()
            except Exception:
                log.exception("send heartbeat failed")

    async def _beat(self) -> None:
        at = now_ms()

        async def job(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO server_processes (id, started_at, seen_at) VALUES (:id, :at, :at)"
                " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
                id=self.process_id,
                at=at,
            )

        await self.db.write(job)

    async def sweep(self) -> int:
        """Replies left pending by a process that is gone: uncertain, told to the agent."""
        at = now_ms()
        rows = await self.db.fetch_all(
            "SELECT m.id FROM messages m WHERE m.status = 'pending' AND m.wamid IS NULL AND m.send_by IS NOT NULL"
            " AND m.send_by <> :me AND NOT EXISTS (SELECT 1 FROM server_processes p"
            " WHERE p.id = m.send_by AND p.seen_at >= :alive)",
            me=self.process_id,
            alive=at - DEAD_AFTER_MS,
        )
        error = uncertain_error("the server stopped while handing this message to WhatsApp")
        for row in rows:
            log.warning("message %s was being sent by a server process that stopped: uncertain", row["id"])
            await self.store.record_failed(row["id"], error)
        if rows:

            async def forget(tx: Tx) -> None:
                await tx.execute("DELETE FROM server_processes WHERE seen_at < :t", t=at - FORGET_AFTER_MS)

            await self.db.write(forget)
        return len(rows)


async def send_and_record(store: Store, outbound: Outbound, send: Send) -> dict[str, Any]:
    message = outbound.message
    if outbound.to is None:  # a duplicate (its client id was used): never sent twice
        return message
    try:
        wamid = await send(outbound.to)
    except SendError as exc:
        log.warning("send of message %s failed: %s (code %s)", message["id"], exc, exc.error.get("code"))
        return await store.record_failed(message["id"], exc.error)
    except asyncio.CancelledError:
        # Shutdown cut the send off: it may have reached Meta. Say so before stopping.
        log.warning("send of message %s cut off by shutdown: uncertain", message["id"])
        await asyncio.shield(
            store.record_failed(message["id"], uncertain_error("the server stopped while sending this message"))
        )
        raise
    except Exception as exc:  # never leave the agent's message pending forever
        log.exception("send of message %s crashed", message["id"])
        return await store.record_failed(message["id"], error_object(None, "Internal error", str(exc)))
    log.info("sent message %s as %s (%s)", message["id"], wamid, message["type"])
    return await store.record_sent(message["id"], wamid)
