"""Events out to dashboards: one hub per process fans each committed event out to the
websockets of the users who may see it.

The `events` table is the source of truth. With `memory://` (one process) the store hands
committed events straight to the hub. With Redis or PostgreSQL, a process only announces
"there is something new"; every process then reads the table from its own cursor, so each
one delivers every event exactly once and in id order, whichever process wrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from . import queries
from .auth import User, bearer_token, user_for_token
from .db import Database

log = logging.getLogger(__name__)

CHANNEL = "inbox_events"
CLOSE_BAD_TOKEN = 4401
CLOSE_TOO_SLOW = 4008
CLOSE_GOING_AWAY = 1001


@dataclass(frozen=True)
class HubEvent:
    id: int
    owner_id: int | None
    text: str  # the JSON frame, serialised once for every client


_OVERFLOW = HubEvent(-1, None, "")


def _frame(event: dict[str, Any]) -> HubEvent:
    public = {
        "id": event["id"],
        "type": event["type"],
        "conversationId": event["conversationId"],
        "data": event["data"],
    }
    return HubEvent(event["id"], event.get("ownerId"), json.dumps(public, separators=(",", ":")))


class Subscription:
    """One websocket's bounded queue: a client that falls behind is told to resync, never
    allowed to hold the others up."""

    def __init__(self, user: User, maxsize: int) -> None:
        self.user = user
        self.queue: asyncio.Queue[HubEvent] = asyncio.Queue(maxsize)
        self.overflowed = asyncio.Event()

    def offer(self, event: HubEvent) -> None:
        if self.overflowed.is_set() or not self.user.may_see(event.owner_id):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()


class Hub:
    def __init__(self, db: Database, broadcast_url: str = "memory://", queue_size: int = 5000) -> None:
        self.db = db
        self.queue_size = queue_size
        self.last_id = 0
        self.subscriptions: set[Subscription] = set()
        self.sockets: set[WebSocket] = set()
        self._backend = _backend_for(broadcast_url)
        self._wake = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.last_id = await self.latest_id()
        if self._backend is not None:
            await self._backend.start(self._wake.set)
            self._reader = asyncio.create_task(self._read_loop(), name="hub-reader")

    async def stop(self) -> None:
        await self.close_sockets(CLOSE_GOING_AWAY, "server shutting down")
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._backend is not None:
            await self._backend.stop()

    # -- in: committed events ------------------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        """Called by the store after each commit, in commit order."""
        if self._backend is None:
            self._dispatch(_frame(event))
        else:
            self._backend.announce()

    async def _read_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while True:
                    rows = await self.db.fetch_all(
                        "SELECT id, type, conversation_id, owner_id, data FROM events"
                        " WHERE id > :after ORDER BY id LIMIT 500",
                        after=self.last_id,
                    )
                    for row in rows:
                        event = queries.event_view(row)
                        event["ownerId"] = row["owner_id"]
                        self._dispatch(_frame(event))
                    if len(rows) < 500:
                        break
            except Exception:
                log.exception("reading new events failed; retrying")
                await asyncio.sleep(0.5)
                self._wake.set()

    def _dispatch(self, event: HubEvent) -> None:
        if event.id <= self.last_id:
            return
        self.last_id = event.id
        for sub in self.subscriptions:
            sub.offer(event)

    # -- out: subscriptions --------------------------------------------------------------
    def subscribe(self, user: User) -> Subscription:
        sub = Subscription(user, self.queue_size)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)

    async def latest_id(self) -> int:
        return int(await self.db.fetch_val("SELECT COALESCE(MAX(id), 0) FROM events") or 0)

    async def too_old(self, since: int) -> bool:
        """True when events after `since` were already pruned: the client must reload."""
        if since <= 0:
            return False
        oldest = await self.db.fetch_val("SELECT MIN(id) FROM events")
        return oldest is not None and since < oldest - 1

    @staticmethod
    def resync_event(last_id: int = 0) -> dict[str, Any]:
        return {"id": last_id, "type": "resync", "conversationId": None, "data": {}}

    async def close_sockets(self, code: int, reason: str) -> None:
        async def close(ws: WebSocket) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code, reason), 1.0)

        await asyncio.gather(*(close(ws) for ws in list(self.sockets)))


# -- the websocket endpoint ----------------------------------------------------------------


async def websocket_endpoint(ws: WebSocket) -> None:
    """`/ws?token=…&since=…`: missed events first, then live ones, no gap, no duplicate."""
    hub: Hub = ws.app.state.hub
    user = await user_for_token(ws.app.state.db, bearer_token(ws))
    await ws.accept()
    if user is None:
        await ws.close(CLOSE_BAD_TOKEN, "invalid or missing token")
        return
    raw_since = ws.query_params.get("since")
    sub = hub.subscribe(user)  # before the replay, so nothing falls between the two
    hub.sockets.add(ws)
    try:
        last = hub.last_id
        if raw_since not in (None, ""):
            try:
                since = max(int(raw_since), 0)
            except ValueError:
                await ws.close(4400, "since must be a whole number")
                return
            last = await _replay(ws, hub, user, since, hub.last_id)
        await _pump(ws, hub, sub, last)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(sub)
        hub.sockets.discard(ws)


async def _replay(ws: WebSocket, hub: Hub, user: User, since: int, until: int) -> int:
    if await hub.too_old(since):
        await ws.send_text(json.dumps(hub.resync_event(until), separators=(",", ":")))
        return until
    last = since
    while True:
        events = await queries.events_since(hub.db, user, last, until)
        for event in events:
            await ws.send_text(json.dumps(event, separators=(",", ":")))
        if len(events) < queries.EVENTS_PAGE:
            return until
        last = events[-1]["id"]


async def _pump(ws: WebSocket, hub: Hub, sub: Subscription, last: int) -> None:
    async def send_live() -> None:
        nonlocal last
        while True:
            event = await sub.queue.get()
            if event.id <= last:
                continue
            await ws.send_text(event.text)
            last = event.id

    async def read_until_closed() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return

    tasks = [
        asyncio.create_task(send_live()),
        asyncio.create_task(read_until_closed()),
        asyncio.create_task(sub.overflowed.wait()),
    ]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        if task is not tasks[2] and task.exception() and not isinstance(task.exception(), WebSocketDisconnect):
            log.debug("websocket ended: %r", task.exception())
    if sub.overflowed.is_set() and ws.application_state == WebSocketState.CONNECTED:
        log.warning("websocket of user %s fell behind; told to resync", sub.user.id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.send_text(json.dumps(hub.resync_event(hub.last_id), separators=(",", ":"))), 1.0)
            await asyncio.wait_for(ws.close(CLOSE_TOO_SLOW, "too slow: resync"), 1.0)


# -- cross-process backends ----------------------------------------------------------------


class _Backend:
    """Announces new events to every process; carries no event data (the table does)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pending = asyncio.Event()
        self._task: asyncio.Task | None = None

    def announce(self) -> None:
        self._pending.set()

    async def start(self, on_announce: Callable[[], None]) -> None:
        await self._listen(on_announce)
        self._task = asyncio.create_task(self._announce_loop(), name="hub-announcer")

    async def _announce_loop(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()  # several commits in a row need one announcement
            try:
                await self._send()
            except Exception:
                log.exception("announcing events failed; retrying")
                await asyncio.sleep(0.5)
                self._pending.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    async def _listen(self, on_announce: Callable[[], None]) -> None:
        raise NotImplementedError

    async def _send(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


class _RedisBackend(_Backend):
    async def _listen(self, on_announce: Callable[[], None]) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self.url)
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(CHANNEL)

        async def listen() -> None:
            async for message in self._pubsub.listen():
                if message.get("type") == "message":
                    on_announce()

        self._listener = asyncio.create_task(listen(), name="redis-listener")
        on_announce()  # catch up with anything committed while we were starting

    async def _send(self) -> None:
        await self._redis.publish(CHANNEL, b"1")

    async def _close(self) -> None:
        self._listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._listener
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        await self._redis.aclose()


class _PostgresBackend(_Backend):
    async def _listen(self, on_announce: Callable[[], None]) -> None:
        import asyncpg

        url = self.url.replace("postgres://", "postgresql://", 1)
        self._listen_conn = await asyncpg.connect(url)
        self._send_conn = await asyncpg.connect(url)
        await self._listen_conn.add_listener(CHANNEL, lambda *args: on_announce())
        on_announce()

    async def _send(self) -> None:
        await self._send_conn.execute(f"NOTIFY {CHANNEL}")

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self._listen_conn.close()
        with contextlib.suppress(Exception):
            await self._send_conn.close()


def _backend_for(url: str) -> _Backend | None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return None
    if scheme in ("redis", "rediss"):
        return _RedisBackend(url)
    if scheme in ("postgres", "postgresql"):
        return _PostgresBackend(url)
    raise ValueError(f"BROADCAST_URL {url!r}: expected memory://, redis://… or postgresql://…")
