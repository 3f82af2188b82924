"""Each user's notification preferences, kept on the server so every browser and device of
theirs follows the same choice: sound, desktop notifications, and which conversations notify
(`scope`). Push is per device: a device is notified while its subscription exists
(server/push.py).

`scope` narrows what the user may see (server/visibility.py decides that, never this module):
`mine` only the conversations assigned to them, `queue` those and the unassigned queue
(offered where the user may see the queue), `all` everything they may see (for an admin,
other agents' conversations too). Mentions always notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api import authenticated, json_body
from .auth import User
from .db import Database, Tx, now_ms
from .errors import Invalid
from .visibility import may_see

SCOPES = ("mine", "queue", "all")


@dataclass(frozen=True)
class Preferences:
    sound: bool = True
    desktop: bool = True
    scope: str = "all"


def scopes_for(user: User) -> list[str]:
    """The scopes worth offering `user`: `queue` only where they may see the queue, `all` only
    where it is more than that (admins)."""
    offered = ["mine"]
    if may_see(user, None):
        offered.append("queue")
    if user.is_admin:
        offered.append("all")
    return offered


def wants(user: User, prefs: Preferences, assignee_id: int | None) -> bool:
    """Whether a customer message in a conversation assigned to `assignee_id` notifies `user`."""
    if not may_see(user, assignee_id):
        return False
    if prefs.scope == "mine":
        return assignee_id == user.id
    if prefs.scope == "queue":
        return assignee_id is None or assignee_id == user.id
    return True


def _from_row(row: dict[str, Any] | None) -> Preferences:
    if row is None:
        return Preferences()
    scope = row["scope"] if row["scope"] in SCOPES else "all"
    return Preferences(bool(row["sound"]), bool(row["desktop"]), scope)


async def load(db: Database | Tx, user_id: int) -> Preferences:
    row = await db.fetch_one("SELECT sound, desktop, scope FROM notification_preferences WHERE user_id = :u", u=user_id)
    return _from_row(row)


async def load_many(db: Database, user_ids: list[int]) -> dict[int, Preferences]:
    """Everyone's preferences at once (the push fan-out); users without a row get the defaults."""
    if not user_ids:
        return {}
    rows = await db.fetch_all("SELECT user_id, sound, desktop, scope FROM notification_preferences")
    stored = {int(r["user_id"]): _from_row(r) for r in rows}
    return {uid: stored.get(uid, Preferences()) for uid in user_ids}


def view(user: User, prefs: Preferences) -> dict[str, Any]:
    return {"sound": prefs.sound, "desktop": prefs.desktop, "scope": prefs.scope, "scopes": scopes_for(user)}


def _changes(body: dict[str, Any], current: Preferences, user: User) -> Preferences:
    sound, desktop, scope = current.sound, current.desktop, current.scope
    for name in ("sound", "desktop"):
        if name in body and not isinstance(body[name], bool):
            raise Invalid(f"{name} must be true or false", "invalid_field")
    sound = body.get("sound", sound)
    desktop = body.get("desktop", desktop)
    if "scope" in body:
        scope = body["scope"]
        if scope not in scopes_for(user):
            raise Invalid("scope must be one of " + ", ".join(scopes_for(user)), "invalid_field")
    return Preferences(sound, desktop, scope)


async def save(db: Database, user_id: int, prefs: Preferences) -> None:
    async def job(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO notification_preferences (user_id, sound, desktop, scope, updated_at)"
            " VALUES (:u, :s, :d, :scope, :t) ON CONFLICT (user_id) DO UPDATE SET sound = excluded.sound,"
            " desktop = excluded.desktop, scope = excluded.scope, updated_at = excluded.updated_at",
            u=user_id,
            s=1 if prefs.sound else 0,
            d=1 if prefs.desktop else 0,
            scope=prefs.scope,
            t=now_ms(),
        )

    await db.write(job)


@authenticated
async def get_preferences(request: Request, user: User) -> Response:
    return JSONResponse(view(user, await load(request.app.state.db, user.id)))


@authenticated
async def update_preferences(request: Request, user: User) -> Response:
    """PUT {"sound"?, "desktop"?, "scope"?}: only the fields given change."""
    db = request.app.state.db
    prefs = _changes(await json_body(request), await load(db, user.id), user)
    await save(db, user.id, prefs)
    return JSONResponse(view(user, prefs))


routes = [
    Route("/api/me/preferences", get_preferences),
    Route("/api/me/preferences", update_preferences, methods=["PUT", "PATCH"]),
]
