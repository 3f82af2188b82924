"""Web Push: browsers' subscriptions per user and device, and the fan-out that notifies them.

A new customer message (or a mention) is pushed to every device of every user who may see
the conversation (server/visibility.py, narrowed by their preferences, server/preferences.py)
and none of whose dashboards shows it right now (server/presence.py). The push names the
customer and carries the first line; clicking it opens the conversation (static/sw.js).

The webhook never waits for any of it: `offer()` is called after the commit and only puts
the event on a bounded queue; a few workers send, each push with a timeout. A push service
answering 404 or 410 means the subscription is gone, and it is deleted. Only the process that
committed an event offers it, so with several processes each event is pushed once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import presence, queries
from .api import MAX_INT, authenticated, json_body
from .auth import User
from .db import Database, Tx, now_ms
from .errors import Invalid, NotFound
from .preferences import Preferences, load_many, wants
from .services import services
from .settings import Settings
from .vapid import VapidKeys, b64url_decode, ensure_keys
from .visibility import may_see
from .webpush import Target, send

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # events waiting to be pushed; past it new ones are dropped (and logged)
WORKERS = 2
PARALLEL_SENDS = 8
SEND_TIMEOUT = 10.0
MAX_DEVICES = 20  # per user; the oldest subscription goes when a 21st arrives
MAX_ENDPOINT = 2048


# -- subscriptions -------------------------------------------------------------------------


def _device_name(user_agent: str) -> str:
    """ "Chrome on Android": enough to tell one's devices apart in the list."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for pattern, name in (
                (r"Edg/", "Edge"),
                (r"OPR/|Opera", "Opera"),
                (r"Firefox/", "Firefox"),
                (r"Chrome/|Chromium/|CriOS/", "Chrome"),
                (r"Safari/", "Safari"),
            )
            if re.search(pattern, ua)
        ),
        "Browser",
    )
    system = next(
        (
            name
            for pattern, name in (
                (r"Android", "Android"),
                (r"iPhone|iPad|iOS", "iOS"),
                (r"Windows", "Windows"),
                (r"Mac OS X|Macintosh", "macOS"),
                (r"CrOS", "ChromeOS"),
                (r"Linux", "Linux"),
            )
            if re.search(pattern, ua)
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser


def _subscription_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "device": row["device"],
        "pushService": urlsplit(row["endpoint"]).hostname or "",
        "createdAt": queries.iso(row["created_at"]),
        "lastUsedAt": queries.iso(row["last_used_at"]),
    }


def _key(value: Any, name: str, size: int) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", value):
        raise Invalid(f"keys.{name} must be the browser's base64url {name} key", "invalid_subscription")
    try:
        raw = b64url_decode(value.rstrip("="))
    except ValueError:
        raise Invalid(f"keys.{name} is not base64url", "invalid_subscription") from None
    if len(raw) != size:
        raise Invalid(f"keys.{name} must be {size} bytes", "invalid_subscription")
    if name == "p256dh":
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise Invalid("keys.p256dh is not a P-256 public key", "invalid_subscription") from None
    return value.rstrip("=")


def parse_subscription(body: dict[str, Any], allow_http: bool) -> Target:
    """The browser's `PushSubscription.toJSON()`: endpoint and keys, checked."""
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT:
        raise Invalid("endpoint must be the push service URL of the subscription", "invalid_subscription")
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise Invalid("endpoint must be an https:// URL of a push service", "invalid_subscription")
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise Invalid("keys must hold the subscription's p256dh and auth", "invalid_subscription")
    return Target(endpoint, _key(keys.get("p256dh"), "p256dh", 65), _key(keys.get("auth"), "auth", 16))


async def save_subscription(db: Database, user: User, target: Target, device: str) -> dict[str, Any]:
    """Stores it for `user` (a browser that signs in as someone else now notifies them)."""
    now = now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        await tx.execute(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, device, created_at)"
            " VALUES (:u, :e, :p, :a, :d, :t) ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,"
            " p256dh = excluded.p256dh, auth = excluded.auth, device = excluded.device",
            u=user.id,
            e=target.endpoint,
            p=target.p256dh,
            a=target.auth,
            d=device,
            t=now,
        )
        rows = await tx.fetch_all(
            "SELECT id FROM push_subscriptions WHERE user_id = :u ORDER BY created_at DESC, id DESC", u=user.id
        )
        for extra in rows[MAX_DEVICES:]:
            await tx.execute("DELETE FROM push_subscriptions WHERE id = :id", id=extra["id"])
        row = await tx.fetch_one(
            "SELECT id, device, endpoint, created_at, last_used_at FROM push_subscriptions WHERE endpoint = :e",
            e=target.endpoint,
        )
        assert row is not None
        return _subscription_view(row)

    return await db.write(job)


async def delete_subscription(db: Database, user: User, sub_id: int | None, endpoint: str | None) -> bool:
    async def job(tx: Tx) -> bool:
        removed = await tx.fetch_all(
            "DELETE FROM push_subscriptions WHERE user_id = :u AND (id = :id OR endpoint = :e) RETURNING id",
            u=user.id,
            id=sub_id or 0,
            e=endpoint or "",
        )
        return bool(removed)

    return await db.write(job)


@authenticated
async def vapid_key(request: Request, user: User) -> Response:
    """The applicationServerKey the browser subscribes with."""
    keys = services(request).push.keys
    if keys is None:
        raise NotFound("Web Push is not ready yet", "push_unavailable")
    return JSONResponse({"publicKey": keys.public_key})


@authenticated
async def list_subscriptions(request: Request, user: User) -> Response:
    rows = await request.app.state.db.fetch_all(
        "SELECT id, device, endpoint, created_at, last_used_at FROM push_subscriptions WHERE user_id = :u"
        " ORDER BY created_at, id",
        u=user.id,
    )
    return JSONResponse([_subscription_view(r) for r in rows])


@authenticated
async def add_subscription(request: Request, user: User) -> Response:
    """POST the browser's PushSubscription (its toJSON()): this device is notified from now on."""
    body = await json_body(request)
    target = parse_subscription(body, request.app.state.settings.push_allow_http)
    device = body.get("device")
    name = device.strip()[:80] if isinstance(device, str) and device.strip() else None
    view = await save_subscription(
        request.app.state.db, user, target, name or _device_name(request.headers.get("user-agent", ""))
    )
    return JSONResponse(view, status_code=201)


@authenticated
async def remove_subscription(request: Request, user: User) -> Response:
    """DELETE /api/push/subscriptions/{id}, or DELETE /api/push/subscriptions {"endpoint": …}
    (what a browser knows about itself)."""
    sub_id: int | None = None
    endpoint: str | None = None
    if "id" in request.path_params:
        try:
            sub_id = int(request.path_params["id"])
        except ValueError:
            sub_id = 0
        if not 0 < sub_id <= MAX_INT:
            raise NotFound("no such device", "subscription_not_found")
    else:
        value = (await json_body(request)).get("endpoint")
        if not isinstance(value, str) or not value:
            raise Invalid("give the endpoint of the subscription to remove", "invalid_field")
        endpoint = value
    if not await delete_subscription(request.app.state.db, user, sub_id, endpoint):
        raise NotFound("no such device", "subscription_not_found")
    return JSONResponse({"ok": True})


routes = [
    Route("/api/push/key", vapid_key),
    Route("/api/push/subscriptions", list_subscriptions),
    Route("/api/push/subscriptions", add_subscription, methods=["POST"]),
    Route("/api/push/subscriptions", remove_subscription, methods=["DELETE"]),
    Route("/api/push/subscriptions/{id}", remove_subscription, methods=["DELETE"]),
]


# -- the fan-out ---------------------------------------------------------------------------


def _first_line(text: Any, limit: int = 140) -> str:
    line = next((part.strip() for part in str(text or "").splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


_KINDS = {
    "image": "Photo",
    "video": "Video",
    "audio": "Voice message",
    "document": "Document",
    "sticker": "Sticker",
    "location": "Location",
    "contacts": "Contact card",
}


def preview(message: dict[str, Any]) -> str:
    text = _first_line(message.get("content"))
    kind = _KINDS.get(str(message.get("type") or ""))
    if kind:
        return f"{kind}: {text}" if text else kind
    return text or "New message"


class PushService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.keys: VapidKeys | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._sending = asyncio.Semaphore(PARALLEL_SENDS)
        self._dropped = 0
        self.sent = 0  # pushes accepted by a push service
        self.handled = 0  # events fanned out (whatever the outcome): tests wait on it
        self.busy = 0  # workers fanning an event out right now

    async def start(self) -> None:
        self.keys = await ensure_keys(self.db)
        self._client = httpx.AsyncClient(timeout=SEND_TIMEOUT, follow_redirects=False)
        self._workers = [asyncio.create_task(self._work(), name=f"push-{i}") for i in range(WORKERS)]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing being sent."""
        return self._queue.empty() and self.busy == 0

    def offer(self, event: dict[str, Any]) -> None:
        """Called after each commit, with each event: the pushable ones wait for a worker."""
        data = event.get("data")
        pushable = (
            event.get("type") == "message.created" and isinstance(data, dict) and data.get("direction") == "inbound"
        ) or event.get("type") == "mention"
        if not pushable or not self._workers:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100 == 0:
                log.warning("push queue full: %d notifications dropped", self._dropped)

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            self.busy += 1
            try:
                await self.fan_out(event)
            except Exception:
                log.exception("pushing event %s failed", event.get("id"))
            finally:
                self.busy -= 1
                self.handled += 1

    async def _subject(self) -> str:
        if self.settings.vapid_subject:
            return self.settings.vapid_subject
        email = await self.db.fetch_val(
            "SELECT email FROM users WHERE is_admin = 1 AND deactivated_at IS NULL ORDER BY id LIMIT 1"
        )
        return f"mailto:{email or 'inbox@localhost'}"

    async def _recipients(self, event: dict[str, Any], owner_id: int | None) -> list[int]:
        rows = await self.db.fetch_all(
            "SELECT id, email, is_admin, name FROM users WHERE deactivated_at IS NULL ORDER BY id"
        )
        users = [
            User(r["id"], r["email"], bool(r["is_admin"]), r["name"] or "", self.settings.agents_see_unassigned)
            for r in rows
        ]
        if event.get("type") == "mention":
            # Addressed to one user, who may see it (server/notes.py checked); still the one rule.
            return [u.id for u in users if u.id == event.get("userId") and may_see(u, owner_id)]
        prefs = await load_many(self.db, [u.id for u in users])
        return [u.id for u in users if wants(u, prefs.get(u.id, Preferences()), owner_id)]

    async def fan_out(self, event: dict[str, Any]) -> int:
        """Pushes one event to the devices it is for; returns how many were accepted."""
        conversation_id = event.get("conversationId")
        if not isinstance(conversation_id, int) or self.keys is None or self._client is None:
            return 0
        # Devices first: usually there are none, and then every customer message costs one
        # read here instead of five (conversation, users, preferences, presence, devices).
        devices = await self.db.fetch_all("SELECT id, user_id, endpoint, p256dh, auth FROM push_subscriptions")
        if not devices:
            return 0
        conv = await self.db.fetch_one(
            "SELECT id, owner_id, contact_name, profile_name, phone_number FROM conversations WHERE id = :c",
            c=conversation_id,
        )
        if conv is None:
            return 0
        recipients = set(await self._recipients(event, conv["owner_id"]))
        recipients -= await presence.watching(self.db, conversation_id)
        if not recipients:
            return 0
        subs = [s for s in devices if s["user_id"] in recipients]
        if not subs:
            return 0
        notification = self._notification(event, conv)
        subject = await self._subject()
        results = await asyncio.gather(*(self._push(s, notification, subject, conversation_id) for s in subs))
        return sum(results)

    def _notification(self, event: dict[str, Any], conv: dict[str, Any]) -> dict[str, Any]:
        name = conv["contact_name"] or conv["profile_name"] or conv["phone_number"] or "A customer"
        data = event.get("data") or {}
        if event.get("type") == "mention":
            note = data.get("message") or {}
            by = data.get("byName") or "Someone"
            title, body = f"{by} mentioned you ({name})", _first_line(note.get("content"))
            tag = f"mention-{note.get('id')}"
        else:
            title, body, tag = name, preview(data), f"conversation-{conv['id']}"
        return {
            "title": title,
            "body": body,
            "tag": tag,
            "conversationId": conv["id"],
            "url": f"/?conversation={conv['id']}",
        }

    async def _push(self, sub: dict[str, Any], notification: dict[str, Any], subject: str, conversation_id: int) -> int:
        assert self.keys is not None and self._client is not None
        target = Target(sub["endpoint"], sub["p256dh"], sub["auth"])
        async with self._sending:
            try:
                status = await send(self._client, self.keys, subject, target, notification, topic=f"c{conversation_id}")
            except httpx.HTTPError as exc:
                log.warning("push to %s failed: %s", urlsplit(target.endpoint).hostname, exc)
                return 0
        if status in (404, 410):
            log.info("push subscription %s is gone (%d): removed", sub["id"], status)
            await self._forget(sub["id"])
            return 0
        if not 200 <= status < 300:
            log.warning("push service %s answered %d", urlsplit(target.endpoint).hostname, status)
            return 0
        await self._used(sub["id"])
        self.sent += 1
        return 1

    async def _forget(self, sub_id: int) -> None:
        async def job(tx: Tx) -> None:
            await tx.execute("DELETE FROM push_subscriptions WHERE id = :id", id=sub_id)

        await self.db.write(job)

    async def _used(self, sub_id: int) -> None:
        async def job(tx: Tx) -> None:
            await tx.execute("UPDATE push_subscriptions SET last_used_at = :t WHERE id = :id", t=now_ms(), id=sub_id)

        await self.db.write(job)
