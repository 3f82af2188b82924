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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from websockets.frames import Frame, Opcode

from . import queries, sessions
from .auth import User
from .db import Database
from .services import services
from .visibility import may_receive
from .ws_protocol import EXTENSION, FrameChannel

log = logging.getLogger(__name__)

CHANNEL = "inbox_events"
CLOSE_BAD_TOKEN = 4401
CLOSE_TOO_SLOW = 4008
CLOSE_GOING_AWAY = 1001
# Seconds a websocket opened without a token (no header, cookie or ?token=) has to send
# {"type": "auth", "token": "…"} as its first message.
AUTH_MESSAGE_WAIT = 10.0


@dataclass(frozen=True)
class HubEvent:
    id: int
    owner_id: int | None
    text: str  # the JSON, serialised once for every client
    frame: bytes  # and its websocket frame, encoded once
    user_id: int | None = None  # set: for this user only
    type: str = ""
    data: Any = None


def _frame(event: dict[str, Any]) -> HubEvent:
    public = {
        "id": event["id"],
        "type": event["type"],
        "conversationId": event["conversationId"],
        "data": event["data"],
    }
    text = json.dumps(public, separators=(",", ":"))
    return HubEvent(
        event["id"],
        event.get("ownerId"),
        text,
        Frame(Opcode.TEXT, text.encode()).serialize(mask=False),
        event.get("userId"),
        event["type"],
        event["data"],
    )


class Subscription:
    """One websocket's bounded queue of events not yet written: a client that falls behind is
    told to resync, never allowed to hold the others up.

    Events wait here only while the connection is replaying missed events or its transport
    buffer is full; otherwise the hub writes them straight through the connection's
    `FrameChannel` (no task, no await per connection). Without a channel (another ASGI
    server) a task per connection sends them through ASGI.
    """

    def __init__(
        self,
        user: User,
        maxsize: int,
        channel: FrameChannel | None,
        on_dirty: Callable[[Subscription], None],
        token_id: int | None = None,
    ) -> None:
        self.user = user
        self.token_id = token_id  # the session or script token it was opened with
        self.maxsize = maxsize
        self.channel = channel
        self.pending: deque[HubEvent] = deque()
        self.overflowed = asyncio.Event()
        self.signed_out = asyncio.Event()  # its token ended: closed with 4401
        self.signed_out_reason = ""
        self.ready = asyncio.Event()  # ASGI fallback: something to send
        self.last = 0  # the last event id this client has (replay included)
        self.resync_id = 0
        self.live = False  # replay done: events may go out
        self.dirty = False  # queued for the hub's next flush
        self._on_dirty = on_dirty
        if channel is not None:
            channel.on_writable = self.flush

    def offer(self, event: HubEvent) -> None:
        if event.type == "user.updated" and isinstance(event.data, dict) and event.data.get("id") == self.user.id:
            self._user_changed(event.data)
        if event.type == sessions.SESSION_ENDED and isinstance(event.data, dict):
            if event.data.get("userId") == self.user.id and self.token_id in (event.data.get("tokenIds") or ()):
                self.sign_out(str(event.data.get("reason") or "the session ended"))
        if self.overflowed.is_set() or self.signed_out.is_set():
            return
        if not may_receive(self.user, event.owner_id, event.user_id):
            return
        if len(self.pending) >= self.maxsize:
            self.pending.clear()
            self.overflowed.set()
            self.resync_id = event.id
            if self.live:
                self._cut_loose()
            return
        self.pending.append(event)
        if self.live and not self.dirty:
            self.dirty = True
            self._on_dirty(self)

    def _user_changed(self, data: dict[str, Any]) -> None:
        """Every process sees the event, so every process applies it to its own sockets: a
        new role counts from the next event. (A deactivated user's tokens end: session.ended.)"""
        if data.get("role") in ("admin", "agent"):
            self.user = replace(self.user, is_admin=data["role"] == "admin", name=data.get("name") or "")

    def sign_out(self, reason: str) -> None:
        """Its token ended (logout, expiry, revocation, deactivation): closed with 4401 at once."""
        if self.signed_out.is_set():
            return
        self.signed_out_reason = f"signed out: {reason}"[:100]
        self.signed_out.set()
        self.pending.clear()
        if self.channel is not None:
            self.channel.close(CLOSE_BAD_TOKEN, self.signed_out_reason)

    def go_live(self, last: int) -> None:
        """Replay has delivered everything up to `last`: send what came in meanwhile."""
        self.last = last
        self.live = True
        if self.overflowed.is_set():
            self._cut_loose()
        self.flush()

    def _cut_loose(self) -> None:
        """Too far behind: a resync behind the bytes already buffered for it (whatever the
        buffer's size: a frozen tab that wakes up reads them, then this), and close 4008."""
        if self.channel is None:
            return  # the endpoint does it through ASGI
        log.warning("websocket of user %s fell behind; told to resync", self.user.id)
        text = json.dumps(Hub.resync_event(self.resync_id), separators=(",", ":"))
        self.channel.send(Frame(Opcode.TEXT, text.encode()).serialize(mask=False), [text])
        self.channel.close(CLOSE_TOO_SLOW, "too slow: resync")

    def flush(self) -> None:
        """Write every waiting event the client does not have yet, in one write."""
        self.dirty = False
        if not self.live or self.overflowed.is_set() or not self.pending:
            return
        if self.channel is None:
            self.ready.set()
            return
        if not self.channel.writable:
            return  # the channel calls flush again once its buffer has drained
        events = [e for e in self.pending if e.id > self.last]
        self.pending.clear()
        if events:
            self.last = events[-1].id
            self.channel.send(b"".join(e.frame for e in events), [e.text for e in events])

    def take(self) -> list[HubEvent]:
        """ASGI fallback: the events to send now."""
        events = [e for e in self.pending if e.id > self.last]
        self.pending.clear()
        if events:
            self.last = events[-1].id
        return events


class Hub:
    def __init__(self, db: Database, broadcast_url: str = "memory://", queue_size: int = 5000) -> None:
        self.db = db
        self.queue_size = queue_size
        self.last_id = 0
        self.subscriptions: set[Subscription] = set()
        self.sockets: set[WebSocket] = set()
        self._backend = _backend_for(broadcast_url)
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._dirty: list[Subscription] = []
        self._missing: set[int] = set()  # token ids found gone at the last session check

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
                        "SELECT id, type, conversation_id, owner_id, user_id, data FROM events"
                        " WHERE id > :after ORDER BY id LIMIT 500",
                        after=self.last_id,
                    )
                    for row in rows:
                        event = queries.event_view(row)
                        event["ownerId"] = row["owner_id"]
                        event["userId"] = row["user_id"]
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

    def _mark_dirty(self, sub: Subscription) -> None:
        # The events of one commit arrive back to back: each connection gets them in one
        # write at the next turn of the loop.
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(sub)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for sub in dirty:
            try:
                sub.flush()
            except Exception:  # one broken connection must not stop the others' events
                log.exception("writing an event to a websocket failed")

    # -- out: subscriptions --------------------------------------------------------------
    def subscribe(self, user: User, channel: FrameChannel | None = None, token_id: int | None = None) -> Subscription:
        sub = Subscription(user, self.queue_size, channel, self._mark_dirty, token_id)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)
        if sub.channel is not None:
            sub.channel.on_writable = None

    async def close_ended_sessions(self) -> int:
        """Sign out websockets whose token no longer exists, however it ended (the CLI on a
        single memory:// process has no channel to tell us)."""
        ids = {s.token_id for s in self.subscriptions if s.token_id is not None and not s.signed_out.is_set()}
        if not ids:
            self._missing = set()
            return 0
        missing = ids - await sessions.existing(self.db, ids)
        # Gone at two checks in a row: the session.ended event, with its reason, had its chance.
        gone, self._missing = missing & self._missing, missing
        closed = 0
        for sub in list(self.subscriptions):
            if sub.token_id in gone:
                sub.sign_out("the session ended")
                closed += 1
        return closed

    async def announce(self) -> None:
        """Tell the other processes now that there are new events (the CLI's changes)."""
        if self._backend is not None:
            await self._backend.send_now()

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
    """`/ws?since=…`: missed events first, then live ones, no gap, no duplicate.

    Signed in by the session cookie (the dashboard; from a page of this host only), an
    `Authorization: Bearer` header, a first message `{"type": "auth", "token": "…"}`, or
    (older scripts) `?token=`, which is kept out of the logs (server/logs.py)."""
    running = services(ws)
    hub = running.hub
    found = sessions.credential(ws, query=True)
    session = None
    if found is not None and (found[1] != "cookie" or sessions.same_origin(ws)):
        session = await sessions.resolve(running, found[0], found[1])
    await ws.accept()
    if found is None:
        session = await _first_message_session(ws)
    if session is None:
        await ws.close(CLOSE_BAD_TOKEN, "invalid or missing token")
        return
    user = session.user
    raw_since = ws.query_params.get("since")
    channel = ws.scope.get("extensions", {}).get(EXTENSION)
    # Before the replay, so nothing falls between the two.
    sub = hub.subscribe(user, channel, session.token_id)
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


async def _first_message_session(ws: WebSocket) -> sessions.Session | None:
    """A script that neither can set headers nor should put its token in a URL (URLs end up
    in logs) sends it as the first message."""
    try:
        message = await asyncio.wait_for(ws.receive(), AUTH_MESSAGE_WAIT)
        body = json.loads(message.get("text") or "")
    except (TimeoutError, ValueError, WebSocketDisconnect, RuntimeError):
        return None
    if not isinstance(body, dict) or body.get("type") != "auth" or not isinstance(body.get("token"), str):
        return None
    return await sessions.resolve(services(ws), body["token"], "message")


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
    """Live events go out through the hub (see `Subscription`); this waits for the client to
    leave. With a FrameChannel that is all: the hub also cuts a slow client loose."""

    async def read_until_closed() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return

    sub.go_live(last)
    if sub.channel is not None:
        await read_until_closed()
        return

    async def send_through_asgi() -> None:
        while True:
            await sub.ready.wait()
            sub.ready.clear()
            for event in sub.take():
                await ws.send_text(event.text)

    tasks = [
        asyncio.create_task(read_until_closed()),
        asyncio.create_task(sub.overflowed.wait()),
        asyncio.create_task(send_through_asgi()),
        asyncio.create_task(sub.signed_out.wait()),
    ]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        waits = (tasks[1], tasks[3])
        if task not in waits and task.exception() and not isinstance(task.exception(), WebSocketDisconnect):
            log.debug("websocket ended: %r", task.exception())
    if sub.signed_out.is_set() and ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(CLOSE_BAD_TOKEN, sub.signed_out_reason), 1.0)
        return
    if sub.overflowed.is_set() and ws.application_state == WebSocketState.CONNECTED:
        log.warning("websocket of user %s fell behind; told to resync", sub.user.id)
        with contextlib.suppress(Exception):
            resync = json.dumps(hub.resync_event(hub.last_id), separators=(",", ":"))
            await asyncio.wait_for(ws.send_text(resync), 1.0)
            await asyncio.wait_for(ws.close(CLOSE_TOO_SLOW, "too slow: resync"), 1.0)


# -- cross-process backends ----------------------------------------------------------------


class _Backend:
    """Announces new events to every process; carries no event data (the table does)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def announce(self) -> None:
        self._pending.set()

    async def start(self, on_announce: Callable[[], None]) -> None:
        await self._listen(on_announce)
        self._task = asyncio.create_task(self._announce_loop(), name="hub-announcer")

    async def send_now(self) -> None:
        await self._send()

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
