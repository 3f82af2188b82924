"""Team accounts: admins and agents, with names; admins add, change and deactivate them.

Deactivating a user ends their sessions at once (their tokens end through
`sessions.end_tokens`, whose event makes every server process close their websockets with
4401) and returns their conversations to the unassigned queue, with an event for each.
"""

from __future__ import annotations

import re
from typing import Any

from . import activity, sessions
from .auth import User, check_password, display_name, hash_password
from .db import Tx, now_ms
from .errors import Forbidden, Invalid, NotFound
from .store import Store

ROLES = ("admin", "agent")
MIN_PASSWORD = 8
MAX_NAME = 80
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def user_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "name": display_name(row["name"], row["email"]),
        "role": "admin" if row["is_admin"] else "agent",
        "active": row["deactivated_at"] is None,
    }


_USER_SELECT = "SELECT id, email, name, is_admin, deactivated_at FROM users"


async def list_users(reader: Any) -> list[dict[str, Any]]:
    return [user_view(r) for r in await reader.fetch_all(_USER_SELECT + " ORDER BY id")]


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{key} must be text")
    return value


def _name(body: dict[str, Any]) -> str | None:
    name = _text(body, "name")
    if name is None:
        return None
    name = " ".join(name.split())
    if not name:
        raise Invalid("name must not be empty")
    if len(name) > MAX_NAME:
        raise Invalid(f"name is longer than {MAX_NAME} characters")
    return name


def check_email(raw: str) -> str:
    """The address as stored (trimmed, lower case); Invalid unless it looks like one."""
    email = raw.strip().lower()
    if not _EMAIL.match(email):
        raise Invalid("email must be an email address, like ana@example.com")
    return email


def _password(body: dict[str, Any]) -> str | None:
    password = _text(body, "password")
    if password is not None and len(password) < MIN_PASSWORD:
        raise Invalid(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def _role(body: dict[str, Any]) -> str | None:
    role = body.get("role")
    if role is not None and role not in ROLES:
        raise Invalid("role must be admin or agent")
    return role


async def create_user(store: Store, actor: User, body: dict[str, Any]) -> dict[str, Any]:
    if not actor.is_admin:
        raise Forbidden("only admins can add users")
    email = check_email(_text(body, "email") or "")
    name = _name(body) or email.split("@", 1)[0]
    password = _password(body)
    if password is None:
        raise Invalid(f"password is required (at least {MIN_PASSWORD} characters)")
    role = _role(body) or "agent"
    user_id = await store.create_user(email, await hash_password(password), role == "admin", name)
    row = await store.db.fetch_one(_USER_SELECT + " WHERE id = :id", id=user_id)
    assert row is not None

    async def announce(tx: Tx) -> None:
        await store.emit(tx, "user.updated", None, None, user_view(row))

    await store.db.write(announce)
    return user_view(row)


async def update_user(store: Store, actor: User, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Admins change anything; every user changes their own name and password (their own
    password only with `currentPassword`)."""
    own = user_id == actor.id
    name, password, role = _name(body), _password(body), _role(body)
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise Invalid("active must be true or false")
    if not actor.is_admin and (not own or role is not None or active is not None):
        raise Forbidden("only admins can change other users, roles and deactivation")
    row = await store.db.fetch_one(_USER_SELECT + " WHERE id = :id", id=user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found", "user_not_found")
    password_hash = None
    if password is not None:
        if own:
            current = _text(body, "currentPassword") or ""
            stored = await store.db.fetch_val("SELECT password_hash FROM users WHERE id = :id", id=user_id)
            if not await check_password(stored, current):
                raise Invalid("to change your password, give your current one as currentPassword")
        password_hash = await hash_password(password)

    async def job(tx: Tx) -> dict[str, Any]:
        current = await tx.fetch_one(_USER_SELECT + " WHERE id = :id", id=user_id)
        assert current is not None
        demoted = role == "agent" and current["is_admin"]
        deactivating = active is False and current["deactivated_at"] is None
        if demoted or (deactivating and current["is_admin"]):
            admins = await tx.fetch_val(
                "SELECT COUNT(*) FROM users WHERE is_admin = 1 AND deactivated_at IS NULL AND id <> :id", id=user_id
            )
            if not admins:
                raise Invalid("this is the last active admin: make another user admin first")
        if name is not None:
            await tx.execute("UPDATE users SET name = :n WHERE id = :id", n=name, id=user_id)
        if role is not None:
            await tx.execute("UPDATE users SET is_admin = :a WHERE id = :id", a=1 if role == "admin" else 0, id=user_id)
        if password_hash is not None:
            await tx.execute("UPDATE users SET password_hash = :h WHERE id = :id", h=password_hash, id=user_id)
        if active is True and current["deactivated_at"] is not None:
            await tx.execute("UPDATE users SET deactivated_at = NULL WHERE id = :id", id=user_id)
        if deactivating:
            await _deactivate(store, tx, actor, user_id)
        updated = await tx.fetch_one(_USER_SELECT + " WHERE id = :id", id=user_id)
        assert updated is not None
        view = user_view(updated)
        # Every process closes a deactivated user's websockets, or applies a new role, on this.
        await store.emit(tx, "user.updated", None, None, view)
        return view

    return await store.db.write(job)


async def _deactivate(store: Store, tx: Tx, actor: User, user_id: int) -> None:
    await tx.execute("UPDATE users SET deactivated_at = :t WHERE id = :id", t=now_ms(), id=user_id)
    await sessions.end_tokens(store, tx, user_id, None, "this account was deactivated")
    name = await activity.user_name(tx, user_id)
    rows = await tx.fetch_all("SELECT id FROM conversations WHERE owner_id = :u ORDER BY id", u=user_id)
    for row in rows:
        await tx.execute("UPDATE conversations SET owner_id = NULL WHERE id = :id", id=row["id"])
        await activity.record(
            store,
            tx,
            row["id"],
            None,
            actor,
            f"{actor.display_name} deactivated {name}: back to the unassigned queue",
            {"action": "unassigned", "from": user_id, "to": None},
        )
        await store.emit_conversation(tx, row["id"])
