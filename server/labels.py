"""Labels: admins define them (name and colour); anyone who sees a conversation sets its labels.

The conversation keeps its label names as a JSON list (what the API shows) and one row per
label in conversation_labels (what the `label=` filter uses); both change together.
"""

from __future__ import annotations

import re
from typing import Any

from . import activity, conversation_labels, queries
from .auth import User
from .db import Tx, now_ms
from .errors import Conflict, Forbidden, Invalid, NotFound
from .store import Store
from .visibility import visible_conversation

MAX_LABEL = 40
DEFAULT_COLOR = "#6b7280"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "color": row["color"]}


async def _announce(store: Store, tx: Tx, type_: str, label: dict[str, Any]) -> None:
    """Labels are the whole team's: every active user's dashboards hear of a new or deleted one
    (one event addressed to each, so the visibility rule needs no exception)."""
    for row in await tx.fetch_all("SELECT id FROM users WHERE deactivated_at IS NULL ORDER BY id"):
        await store.emit(tx, type_, None, None, label, user_id=row["id"])


async def list_labels(reader: Any) -> list[dict[str, Any]]:
    return [_view(r) for r in await reader.fetch_all("SELECT id, name, color FROM labels ORDER BY name")]


async def create_label(store: Store, actor: User, body: dict[str, Any]) -> dict[str, Any]:
    if not actor.is_admin:
        raise Forbidden("only admins can add labels")
    name, color = body.get("name"), body.get("color") or DEFAULT_COLOR
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name is required")
    name = " ".join(name.split()).lower()
    if len(name) > MAX_LABEL:
        raise Invalid(f"a label name is at most {MAX_LABEL} characters")
    if not isinstance(color, str) or not _COLOR.match(color):
        raise Invalid("color must look like #1e90ff")

    async def job(tx: Tx) -> dict[str, Any]:
        if await tx.fetch_one("SELECT id FROM labels WHERE name = :n", n=name):
            raise Conflict(f"there is already a label {name}")
        label_id = await tx.fetch_val(
            "INSERT INTO labels (name, color, created_at) VALUES (:n, :c, :t) RETURNING id", n=name, c=color, t=now_ms()
        )
        label = {"id": label_id, "name": name, "color": color}
        await _announce(store, tx, "label.created", label)
        return label

    return await store.db.write(job)


async def delete_label(store: Store, actor: User, label_id: int) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins can delete labels")

    async def job(tx: Tx) -> None:
        label = await tx.fetch_one("SELECT id, name, color FROM labels WHERE id = :id", id=label_id)
        if label is None:
            raise NotFound(f"label {label_id} not found", "label_not_found")
        rows = await tx.fetch_all(
            "DELETE FROM conversation_labels WHERE label_id = :id RETURNING conversation_id", id=label_id
        )
        await tx.execute("DELETE FROM labels WHERE id = :id", id=label_id)
        for row in rows:
            await conversation_labels.store_names(tx, row["conversation_id"])
            await store.emit_conversation(tx, row["conversation_id"])
        await _announce(store, tx, "label.deleted", _view(label))

    await store.db.write(job)


async def set_labels(store: Store, actor: User, conversation_id: int, names: Any) -> dict[str, Any]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Invalid('labels must be a list of label names, like ["vip"]')
    wanted = list(dict.fromkeys(" ".join(n.split()).lower() for n in names))

    async def job(tx: Tx) -> dict[str, Any]:
        conv = await visible_conversation(tx, actor, conversation_id)
        known = {r["name"]: r["id"] for r in await tx.fetch_all("SELECT id, name FROM labels")}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise Invalid("no such label: " + ", ".join(unknown) + " (an admin adds labels)")
        current = {
            r["name"]
            for r in await tx.fetch_all(
                "SELECT l.name FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id"
                " WHERE cl.conversation_id = :c",
                c=conversation_id,
            )
        }
        added = [n for n in wanted if n not in current]
        removed = sorted(current - set(wanted))
        for n in added:
            await tx.execute(
                "INSERT INTO conversation_labels (conversation_id, label_id) VALUES (:c, :l)",
                c=conversation_id,
                l=known[n],
            )
        for n in removed:
            await tx.execute(
                "DELETE FROM conversation_labels WHERE conversation_id = :c AND label_id = :l",
                c=conversation_id,
                l=known[n],
            )
        if added or removed:
            await conversation_labels.store_names(tx, conversation_id)
            parts = []
            if added:
                parts.append("added " + ", ".join(added))
            if removed:
                parts.append("removed " + ", ".join(removed))
            await activity.record(
                store,
                tx,
                conversation_id,
                conv["owner_id"],
                actor,
                f"{actor.display_name} {' and '.join(parts)} (labels)",
                {"action": "labels", "added": added, "removed": removed},
            )
            await store.emit_conversation(tx, conversation_id)
        view = await queries.get_conversation(tx, conversation_id, actor)
        assert view is not None
        return view

    return await store.db.write(job)
