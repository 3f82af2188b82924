"""Sessions and tokens: who a request or a websocket is, for how long, and how that ends.

Two kinds of token, both stored only as SHA-256 hashes (server/auth.py):

- `session`: made by logging in. The dashboard gets it as an HttpOnly cookie (so every tab
  and a restarted browser share one login, and no script on the page can read it); API
  clients get it in the login answer as a bearer token. It ends at logout, after
  SESSION_IDLE_MINUTES without a request, or SESSION_MAX_AGE_HOURS after the login.
- `script`: made by `create-token` or `POST /api/tokens`; it has a name, lasts until revoked,
  and is listed (never its secret) by `list-tokens` and `GET /api/tokens`.

Whatever ends tokens (logout, revocation, expiry, a deactivated account, a new password) goes
through `end_tokens`: the rows are deleted and a `session.ended` event is written in the same
transaction, so every server process closes those tokens' websockets with 4401
(server/realtime.py), whichever process (or the CLI, through BROADCAST_URL) ended them. Each
process also sweeps expired sessions and closes websockets whose token is gone
(`SessionSweeper`): that catches a CLI revocation on a single `memory://` process.

The cookie makes the browser authenticate requests by itself, so state-changing requests
authenticated by it must carry the `X-Inbox-CSRF` header, which a page of another site cannot
send without a CORS preflight this server never grants; a websocket (which cannot carry
headers) authenticated by it must come from a page of this host (its Origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from .auth import User, new_token, token_hash
from .db import Database, Tx, now_ms
from .errors import Forbidden, Invalid, NotFound
from .services import Services, services

if TYPE_CHECKING:  # the store imports media, which authenticates through this module
    from .store import Store

log = logging.getLogger(__name__)

SESSION_COOKIE = "inbox_session"
CSRF_HEADER = "x-inbox-csrf"
SESSION_ENDED = "session.ended"
SESSION, SCRIPT = "session", "script"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_NAME = 80
_CHUNK = 500


@dataclass(frozen=True)
class Policy:
    """How long sessions last, from SESSION_IDLE_MINUTES and SESSION_MAX_AGE_HOURS."""

    idle_ms: int
    max_age_ms: int

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(int(settings.session_idle_minutes * 60_000), int(settings.session_max_age_hours * 3_600_000))

    @property
    def touch_ms(self) -> int:
        """How stale `last_used_at` may be before a request rewrites it: at most one write a
        minute per session in use, precise enough for any idle time."""
        return max(1, min(60_000, self.idle_ms // 10))

    @property
    def sweep_seconds(self) -> float:
        return max(0.2, min(2.0, self.idle_ms / 4000))

    def expired(self, created_at: int, last_used_at: int | None, now: int) -> bool:
        return now - created_at >= self.max_age_ms or now - (last_used_at or created_at) >= self.idle_ms


@dataclass(frozen=True)
class Session:
    """An authenticated caller: the user, which token, and how it came (`bearer`, `cookie`,
    `query` or `message`)."""

    user: User
    token_id: int
    kind: str
    via: str


def credential(conn: HTTPConnection, query: bool = False) -> tuple[str, str] | None:
    """The token a caller presents and how: `Authorization: Bearer`, the session cookie, or
    (`query`: websockets and media links of older clients) `?token=`."""
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    if query:
        token = conn.query_params.get("token")
        if token:
            return token, "query"
    return None


def same_origin(conn: HTTPConnection) -> bool:
    """No Origin (not a browser), or one naming this host. Host names only: the documented
    proxy passes `Host: $host`, without the port the browser saw."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    host = urlsplit("//" + conn.headers.get("host", "")).hostname
    return host is not None and urlsplit(origin).hostname == host


def check_csrf(conn: HTTPConnection) -> None:
    """Forbidden (403) unless a cookie-authenticated request may change things."""
    if not same_origin(conn):
        raise Forbidden("this request comes from a page of another site", "cross_origin")
    method = conn.scope.get("method", "GET")
    if method not in SAFE_METHODS and not conn.headers.get(CSRF_HEADER):
        raise Forbidden(
            "a request signed in by the session cookie must carry the X-Inbox-CSRF header"
            " (the dashboard sends it; scripts use Authorization: Bearer)",
            "csrf_header_missing",
        )


async def authenticate(conn: HTTPConnection, query: bool = False) -> Session | None:
    """The session of an HTTP request (None: no valid token; Forbidden: a cookie without
    the CSRF header on a request that changes something)."""
    found = credential(conn, query)
    if found is None:
        return None
    token, via = found
    if via == "cookie":
        check_csrf(conn)
    return await resolve(services(conn), token, via)


async def resolve(running: Services, token: str, via: str) -> Session | None:
    """The live session of `token`; an expired one is ended on the spot (its websockets close)."""
    db = running.db
    row = await db.fetch_one(
        "SELECT t.id AS token_id, t.kind, t.created_at, t.last_used_at, u.id, u.email, u.is_admin, u.name"
        " FROM tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = :h AND u.deactivated_at IS NULL",
        h=token_hash(token),
    )
    if row is None:
        return None
    policy = Policy.from_settings(running.settings)
    now = now_ms()
    if row["kind"] == SESSION and policy.expired(row["created_at"], row["last_used_at"], now):
        store = running.store
        await store.db.write(lambda tx: end_tokens(store, tx, row["id"], [row["token_id"]], "the session expired"))
        return None
    if now - (row["last_used_at"] or 0) >= policy.touch_ms:
        await _touch(db, row["token_id"], now)
    user = User(
        id=row["id"],
        email=row["email"],
        is_admin=bool(row["is_admin"]),
        name=row["name"] or "",
        sees_unassigned=running.settings.agents_see_unassigned,
    )
    return Session(user, row["token_id"], row["kind"], via)


async def _touch(db: Database, token_id: int, now: int) -> None:
    async def job(tx: Tx) -> None:
        await tx.execute("UPDATE tokens SET last_used_at = :t WHERE id = :id", t=now, id=token_id)

    await db.write(job)


# -- issuing and ending ------------------------------------------------------------------


async def issue(store: Store, user_id: int, kind: str, name: str | None = None) -> tuple[str, int]:
    """A new token (its secret, shown once) and its id."""
    token, hashed = new_token()

    async def job(tx: Tx) -> int:
        return int(
            await tx.fetch_val(
                "INSERT INTO tokens (user_id, token_hash, created_at, kind, name, last_used_at)"
                " VALUES (:u, :h, :t, :k, :n, :t) RETURNING id",
                u=user_id,
                h=hashed,
                t=now_ms(),
                k=kind,
                n=name,
            )
        )

    return token, await store.db.write(job)


def _in(ids: list[int], prefix: str = "i") -> tuple[str, dict[str, int]]:
    params = {f"{prefix}{n}": v for n, v in enumerate(ids)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = sorted(set(ids))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def end_tokens(store: Store, tx: Tx, user_id: int, token_ids: list[int] | None, reason: str) -> list[int]:
    """Delete tokens of `user_id` (None: all of them) and tell every process (session.ended),
    in the caller's transaction. Returns the ids that were ended."""
    if token_ids is None:
        rows = await tx.fetch_all("DELETE FROM tokens WHERE user_id = :u RETURNING id", u=user_id)
    else:
        rows = []
        for chunk in _chunks(token_ids):
            clause, params = _in(chunk)
            rows += await tx.fetch_all(
                f"DELETE FROM tokens WHERE user_id = :u AND id IN {clause} RETURNING id", u=user_id, **params
            )
    ended = sorted(int(r["id"]) for r in rows)
    if ended:
        data = {"userId": user_id, "tokenIds": ended, "reason": reason}
        await store.emit(tx, SESSION_ENDED, None, None, data, user_id=user_id)
    return ended


async def end_sessions_of(store: Store, tx: Tx, user_id: int, reason: str) -> list[int]:
    """Every login of a user (scripts' tokens stay): after a new password."""
    rows = await tx.fetch_all("SELECT id FROM tokens WHERE user_id = :u AND kind = :k", u=user_id, k=SESSION)
    return await end_tokens(store, tx, user_id, [int(r["id"]) for r in rows], reason) if rows else []


async def revoke(store: Store, token_id: int, actor: User | None) -> dict[str, Any]:
    """End one token. `actor` None: the command line. Others may end only their own."""

    async def job(tx: Tx) -> dict[str, Any]:
        row = await tx.fetch_one(_TOKEN_SELECT + " WHERE t.id = :id", id=token_id)
        if row is None or (actor is not None and not actor.is_admin and row["user_id"] != actor.id):
            raise NotFound(f"token {token_id} not found", "token_not_found")
        await end_tokens(store, tx, row["user_id"], [token_id], "the token was revoked")
        return token_view(row, None)

    return await store.db.write(job)


async def sweep(store: Store, policy: Policy) -> int:
    """End every expired session (each user's in one event). Reads first, so an idle server
    writes nothing; processes sweeping at once end each token once (end_tokens deletes)."""
    now = now_ms()
    rows = await store.db.fetch_all(
        "SELECT id, user_id FROM tokens WHERE kind = :k"
        " AND (created_at <= :old OR COALESCE(last_used_at, created_at) <= :idle)",
        k=SESSION,
        old=now - policy.max_age_ms,
        idle=now - policy.idle_ms,
    )
    if not rows:
        return 0
    by_user: dict[int, list[int]] = {}
    for row in rows:
        by_user.setdefault(int(row["user_id"]), []).append(int(row["id"]))

    async def job(tx: Tx) -> int:
        ended = 0
        for user_id, ids in by_user.items():
            ended += len(await end_tokens(store, tx, user_id, ids, "the session expired"))
        return ended

    return await store.db.write(job)


async def existing(db: Database, token_ids: Iterable[int]) -> set[int]:
    """Which of these tokens still exist."""
    alive: set[int] = set()
    for chunk in _chunks(token_ids):
        clause, params = _in(chunk)
        rows = await db.fetch_all(f"SELECT id FROM tokens WHERE id IN {clause}", **params)
        alive.update(int(r["id"]) for r in rows)
    return alive


class SessionSweeper:
    """Ends expired sessions and closes websockets whose token is gone, every 2 s (less for
    idle times under 8 s): two small queries per process."""

    def __init__(self, store: Store, policy: Policy, close_ended: Callable[[], Awaitable[int]]) -> None:
        self.store = store
        self.policy = policy
        self.close_ended = close_ended
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                ended = await sweep(self.store, self.policy)
                if ended:
                    log.info("ended %d expired session(s)", ended)
                await self.close_ended()
            except Exception:
                log.exception("sweeping sessions failed")
            await asyncio.sleep(self.policy.sweep_seconds)


# -- listing -------------------------------------------------------------------------------

_TOKEN_SELECT = (
    "SELECT t.id, t.user_id, t.kind, t.name, t.created_at, t.last_used_at, u.email"
    " FROM tokens t JOIN users u ON u.id = t.user_id"
)


def token_view(row: Any, policy: Policy | None) -> dict[str, Any]:
    """What is shown about a token: never its secret (only its hash is stored anyway)."""
    view = {
        "id": row["id"],
        "kind": row["kind"],
        "name": row["name"],
        "userId": row["user_id"],
        "userEmail": row["email"],
        "createdAt": row["created_at"],
        "lastUsedAt": row["last_used_at"],
        "expiresAt": None,
    }
    if policy is not None and row["kind"] == SESSION:
        idle_end = (row["last_used_at"] or row["created_at"]) + policy.idle_ms
        view["expiresAt"] = min(row["created_at"] + policy.max_age_ms, idle_end)
    return view


async def list_tokens(
    db: Database, policy: Policy, kinds: tuple[str, ...] = (SCRIPT,), user_id: int | None = None
) -> list[dict[str, Any]]:
    sql = _TOKEN_SELECT + " WHERE t.kind IN (" + ", ".join(f":k{n}" for n in range(len(kinds))) + ")"
    params: dict[str, Any] = {f"k{n}": k for n, k in enumerate(kinds)}
    if user_id is not None:
        sql += " AND t.user_id = :u"
        params["u"] = user_id
    rows = await db.fetch_all(sql + " ORDER BY t.id", **params)
    return [token_view(r, policy) for r in rows]


def token_name(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Invalid("name must be text")
    name = " ".join(raw.split())
    if len(name) > MAX_NAME:
        raise Invalid(f"name is longer than {MAX_NAME} characters")
    return name or None


# -- the cookie ----------------------------------------------------------------------------


def _secure(conn: HTTPConnection) -> bool:
    # uvicorn has already applied the proxy's X-Forwarded-Proto (from FORWARDED_ALLOW_IPS).
    return conn.url.scheme in ("https", "wss")


def set_cookie(response: Response, conn: HTTPConnection, token: str, policy: Policy) -> None:
    """HttpOnly (no script reads it), SameSite=Strict, Secure over HTTPS, kept across browser
    restarts until the session's maximum age."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=policy.max_age_ms // 1000,
        path="/",
        secure=_secure(conn),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, conn: HTTPConnection) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(conn), httponly=True, samesite="strict")
