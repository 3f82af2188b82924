"""Quick replies: canned answers an agent inserts by typing `/` and a shortcut in the composer.

Shared ones belong to the team (`owner_id` NULL): everyone uses them, only admins add, change
or delete them. Private ones belong to one user, who alone sees and edits them. The text may
hold `{{name}}`, `{{agent}}` and `{{phone}}`; the dashboard fills them in when the agent picks
one, so the agent sees (and may edit) exactly what goes out. Every change is an event for each
user who sees the quick reply, so an open `/` list never offers a deleted one.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import queries
from .api import MAX_INT, authenticated, json_body
from .auth import User
from .db import Tx, now_ms
from .errors import Conflict, Forbidden, Invalid, NotFound
from .services import services
from .store import Store

MAX_SHORTCUT = 32
MAX_CONTENT = 4096  # WhatsApp's limit for a text message
_SHORTCUT = re.compile(r"^[\w-]+$")

_SELECT = "SELECT id, owner_id, shortcut, content, created_by, created_at, updated_at FROM quick_replies"


def view(row: dict[str, Any], viewer: User) -> dict[str, Any]:
    shared = row["owner_id"] is None
    return {
        "id": row["id"],
        "shortcut": row["shortcut"],
        "content": row["content"],
        "shared": shared,
        "ownerId": row["owner_id"],
        "createdBy": row["created_by"],
        # Whether this viewer may change it: admins the team's, everyone their own.
        "editable": viewer.is_admin if shared else row["owner_id"] == viewer.id,
        "createdAt": queries.iso(row["created_at"]),
        "updatedAt": queries.iso(row["updated_at"]),
    }


def _shortcut(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("shortcut is required: a word such as hours (typed as /hours)", "invalid_shortcut")
    shortcut = value.strip().lstrip("/").lower()
    if not shortcut:
        raise Invalid("shortcut is required: a word such as hours (typed as /hours)", "invalid_shortcut")
    if len(shortcut) > MAX_SHORTCUT or not _SHORTCUT.match(shortcut):
        raise Invalid(
            f"a shortcut is one word of letters, digits, - or _ (at most {MAX_SHORTCUT} characters)",
            "invalid_shortcut",
        )
    return shortcut


def _content(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("content is required: the text the quick reply inserts", "invalid_content")
    content = value.strip("\n")
    if len(content) > MAX_CONTENT:
        raise Invalid(f"content is longer than WhatsApp's {MAX_CONTENT} characters", "invalid_content")
    return content


async def list_quick_replies(reader: Any, user: User) -> list[dict[str, Any]]:
    """The team's quick replies and the user's own, by shortcut."""
    rows = await reader.fetch_all(
        _SELECT + " WHERE owner_id IS NULL OR owner_id = :u ORDER BY shortcut, owner_id, id", u=user.id
    )
    return [view(r, user) for r in rows]


async def _audience(tx: Tx, row: dict[str, Any]) -> list[User]:
    """Who sees this quick reply: its owner, or (shared) every active user."""
    if row["owner_id"] is not None:
        found = await tx.fetch_all("SELECT id, email, is_admin FROM users WHERE id = :u", u=row["owner_id"])
    else:
        found = await tx.fetch_all("SELECT id, email, is_admin FROM users WHERE deactivated_at IS NULL")
    return [User(int(u["id"]), u["email"], bool(u["is_admin"])) for u in found]


async def _announce(store: Store, tx: Tx, row: dict[str, Any], deleted: bool = False) -> None:
    for user in await _audience(tx, row):
        if deleted:
            await store.emit(tx, "quick_reply.deleted", None, None, {"id": row["id"]}, user_id=user.id)
        else:
            await store.emit(tx, "quick_reply.updated", None, None, view(row, user), user_id=user.id)


async def _clash(tx: Tx, owner_id: int | None, shortcut: str, except_id: int = 0) -> None:
    """Shortcuts are unique among the team's, and among each user's own."""
    if owner_id is None:
        row = await tx.fetch_one(
            "SELECT id FROM quick_replies WHERE owner_id IS NULL AND shortcut = :s AND id <> :x",
            s=shortcut,
            x=except_id,
        )
    else:
        row = await tx.fetch_one(
            "SELECT id FROM quick_replies WHERE owner_id = :o AND shortcut = :s AND id <> :x",
            o=owner_id,
            s=shortcut,
            x=except_id,
        )
    if row is not None:
        whose = "the team" if owner_id is None else "you"
        raise Conflict(f"{whose} already have a quick reply /{shortcut}", "shortcut_taken")


async def create(store: Store, user: User, body: dict[str, Any]) -> dict[str, Any]:
    """`shared` defaults to true for admins (a team reply) and false for agents (their own)."""
    shortcut, content = _shortcut(body.get("shortcut")), _content(body.get("content"))
    shared = body.get("shared", user.is_admin)
    if not isinstance(shared, bool):
        raise Invalid("shared must be true or false", "invalid_field")
    if shared and not user.is_admin:
        raise Forbidden("only admins can add quick replies for the whole team; yours are private", "admin_only")
    owner_id = None if shared else user.id

    async def job(tx: Tx) -> dict[str, Any]:
        await _clash(tx, owner_id, shortcut)
        at = now_ms()
        new_id = await tx.fetch_val(
            "INSERT INTO quick_replies (owner_id, shortcut, content, created_by, created_at, updated_at)"
            " VALUES (:o, :s, :c, :by, :at, :at) RETURNING id",
            o=owner_id,
            s=shortcut,
            c=content,
            by=user.id,
            at=at,
        )
        row = await tx.fetch_one(_SELECT + " WHERE id = :id", id=new_id)
        assert row is not None
        await _announce(store, tx, row)
        return view(row, user)

    return await store.db.write(job)


async def _editable(tx: Tx, user: User, reply_id: int) -> dict[str, Any]:
    row = await tx.fetch_one(_SELECT + " WHERE id = :id", id=reply_id)
    # Someone else's private reply does not exist for this user.
    if row is None or (row["owner_id"] is not None and row["owner_id"] != user.id):
        raise NotFound(f"quick reply {reply_id} not found", "quick_reply_not_found")
    if row["owner_id"] is None and not user.is_admin:
        raise Forbidden("only admins can change the team's quick replies; add your own instead", "admin_only")
    return row


async def update(store: Store, user: User, reply_id: int, body: dict[str, Any]) -> dict[str, Any]:
    shortcut = _shortcut(body["shortcut"]) if "shortcut" in body else None
    content = _content(body["content"]) if "content" in body else None
    if shortcut is None and content is None:
        raise Invalid("give shortcut and/or content to change", "invalid_field")

    async def job(tx: Tx) -> dict[str, Any]:
        row = await _editable(tx, user, reply_id)
        if shortcut is not None:
            await _clash(tx, row["owner_id"], shortcut, except_id=reply_id)
        await tx.execute(
            "UPDATE quick_replies SET shortcut = :s, content = :c, updated_at = :at WHERE id = :id",
            s=shortcut if shortcut is not None else row["shortcut"],
            c=content if content is not None else row["content"],
            at=now_ms(),
            id=reply_id,
        )
        changed = await tx.fetch_one(_SELECT + " WHERE id = :id", id=reply_id)
        assert changed is not None
        await _announce(store, tx, changed)
        return view(changed, user)

    return await store.db.write(job)


async def delete(store: Store, user: User, reply_id: int) -> None:
    async def job(tx: Tx) -> None:
        row = await _editable(tx, user, reply_id)
        await tx.execute("DELETE FROM quick_replies WHERE id = :id", id=reply_id)
        await _announce(store, tx, row, deleted=True)

    await store.db.write(job)


# -- routes ----------------------------------------------------------------------------------


def _reply_id(request: Request) -> int:
    try:
        value = int(request.path_params["id"])
    except ValueError:
        value = 0
    if not 0 < value <= MAX_INT:
        raise NotFound(f"quick reply {request.path_params['id']} not found", "quick_reply_not_found")
    return value


@authenticated
async def list_endpoint(request: Request, user: User) -> Response:
    return JSONResponse(await list_quick_replies(services(request).db, user))


@authenticated
async def create_endpoint(request: Request, user: User) -> Response:
    return JSONResponse(await create(services(request).store, user, await json_body(request)), 201)


@authenticated
async def update_endpoint(request: Request, user: User) -> Response:
    body = await json_body(request)
    return JSONResponse(await update(services(request).store, user, _reply_id(request), body))


@authenticated
async def delete_endpoint(request: Request, user: User) -> Response:
    await delete(services(request).store, user, _reply_id(request))
    return JSONResponse({"ok": True})


routes = [
    Route("/api/quick-replies", list_endpoint),
    Route("/api/quick-replies", create_endpoint, methods=["POST"]),
    Route("/api/quick-replies/{id}", update_endpoint, methods=["PATCH"]),
    Route("/api/quick-replies/{id}", delete_endpoint, methods=["DELETE"]),
]
