"""The business's WhatsApp numbers: the phone number ids of the Meta app this server answers
for. Some come from WHATSAPP_PHONE_NUMBER_ID (comma-separated), admins add others.

A conversation belongs to one of them (conversations.business_number_id) and replies leave
from it; a webhook for a number not listed here is kept unapplied (store.UnknownNumber), so
two numbers' customers never mix.
"""

from __future__ import annotations

from typing import Any

from .auth import User
from .db import Database, Tx, now_ms
from .errors import Conflict, Forbidden, Invalid
from .queries import Reader, iso

MAX_DISPLAY_NAME = 100


async def sync_configured(db: Database, ids: list[str]) -> None:
    """Register the configured numbers; conversations from before several numbers were
    supported (business_number_id '') belong to the first."""
    if not ids:
        return

    async def job(tx: Tx) -> None:
        for number_id in ids:
            await tx.execute(
                "INSERT INTO business_numbers (id, display_name, created_at) VALUES (:id, :n, :t)"
                " ON CONFLICT (id) DO NOTHING",
                id=number_id,
                n=f"WhatsApp number {number_id}",
                t=now_ms(),
            )
        await tx.execute("UPDATE conversations SET business_number_id = :b WHERE business_number_id = ''", b=ids[0])

    await db.write(job)


def _view(row: dict[str, Any], configured: list[str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "displayName": row["display_name"],
        "configured": row["id"] in configured,
        "default": bool(configured) and row["id"] == configured[0],
        "conversationCount": row["conversations"],
        "createdAt": iso(row["created_at"]),
    }


async def list_numbers(reader: Reader, configured: list[str]) -> list[dict[str, Any]]:
    rows = await reader.fetch_all(
        "SELECT n.id, n.display_name, n.created_at,"
        " (SELECT COUNT(*) FROM conversations c WHERE c.business_number_id = n.id) AS conversations"
        " FROM business_numbers n ORDER BY n.created_at, n.id"
    )
    return [_view(r, configured) for r in rows]


def parse_new(body: dict[str, Any]) -> tuple[str, str]:
    """(id, display name) of a POST /api/numbers body."""
    number_id, name = body.get("id"), body.get("displayName")
    if isinstance(number_id, int) and not isinstance(number_id, bool):
        number_id = str(number_id)
    if not isinstance(number_id, str) or not number_id.strip().isdigit() or len(number_id.strip()) > 30:
        raise Invalid(
            "id must be the phone number id Meta shows under WhatsApp → API Setup (digits)", "number_id_invalid"
        )
    if not isinstance(name, str) or not name.strip():
        raise Invalid("displayName is required: the name agents see for this number", "display_name_required")
    if len(name.strip()) > MAX_DISPLAY_NAME:
        raise Invalid(f"displayName is longer than {MAX_DISPLAY_NAME} characters", "display_name_too_long")
    return number_id.strip(), " ".join(name.split())


async def add_number(db: Database, user: User, number_id: str, display_name: str) -> dict[str, Any]:
    if not user.is_admin:
        raise Forbidden("only admins can add business numbers", "admin_only")

    async def job(tx: Tx) -> dict[str, Any]:
        if await tx.fetch_one("SELECT id FROM business_numbers WHERE id = :id", id=number_id):
            raise Conflict(f"business number {number_id} is already added", "number_exists")
        created = now_ms()
        await tx.execute(
            "INSERT INTO business_numbers (id, display_name, created_at) VALUES (:id, :n, :t)",
            id=number_id,
            n=display_name,
            t=created,
        )
        return {"id": number_id, "displayName": display_name, "createdAt": iso(created)}

    return await db.write(job)


async def set_display_name(db: Database, number_id: str, display_name: str) -> None:
    async def job(tx: Tx) -> None:
        await tx.execute("UPDATE business_numbers SET display_name = :n WHERE id = :id", n=display_name, id=number_id)

    await db.write(job)
