"""`message_template_status_update` webhooks: Meta says a template was approved, rejected,
paused, disabled (or reinstated, archived, …), and the local copy follows at once, so the
picker offers only what WhatsApp will send, without anyone running a sync.

The event is matched by the template's Meta id, else by name and language. A template the
copy does not have yet (created after the last sync) makes the server sync the copy
(server/templates.py), since the event alone does not carry the template's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .db import Tx

FIELD = "message_template_status_update"
# Events that say what the template's status now is (Meta's words); others (quality or
# category notices) leave the status as it was.
STATUS_OF_EVENT = {
    "APPROVED": "APPROVED",
    "REINSTATED": "APPROVED",
    "UNPAUSED": "APPROVED",
    "UNARCHIVED": "APPROVED",
    "REJECTED": "REJECTED",
    "PAUSED": "PAUSED",
    "DISABLED": "DISABLED",
    "PENDING": "PENDING",
    "IN_APPEAL": "IN_APPEAL",
    "PENDING_DELETION": "PENDING_DELETION",
    "DELETED": "DELETED",
    "ARCHIVED": "ARCHIVED",
    "LIMIT_EXCEEDED": "LIMIT_EXCEEDED",
    "LOCKED": "LOCKED",
}


@dataclass
class TemplateStatus:
    meta_id: str | None
    name: str
    language: str
    event: str
    status: str | None  # the status it now has, None when the event does not change it
    reason: str | None = None


def parse(value: dict[str, Any]) -> TemplateStatus:
    """One change's value; ValueError when it names no template."""
    name, language = value.get("message_template_name"), value.get("message_template_language")
    if not isinstance(name, str) or not name or not isinstance(language, str) or not language:
        raise ValueError("a template status update without message_template_name and message_template_language")
    event = str(value.get("event") or "").upper()
    meta_id = value.get("message_template_id")
    reason = value.get("reason")
    return TemplateStatus(
        str(meta_id) if isinstance(meta_id, (int, str)) and str(meta_id) else None,
        name,
        language,
        event,
        STATUS_OF_EVENT.get(event),
        str(reason) if reason not in (None, "", "NONE") else None,
    )


async def apply(tx: Tx, item: TemplateStatus) -> bool:
    """Set the template's status; True when the copy had the template (False: it is new to
    the copy, and the caller has the copy synced)."""
    if item.status is None:  # a notice (quality, category) that leaves the status as it is
        return True
    rows = []
    if item.meta_id:
        rows = await tx.fetch_all(
            "UPDATE templates SET status = :s WHERE meta_id = :id RETURNING name", s=item.status, id=item.meta_id
        )
    if not rows:
        rows = await tx.fetch_all(
            "UPDATE templates SET status = :s WHERE name = :n AND language = :l RETURNING name",
            s=item.status,
            n=item.name,
            l=item.language,
        )
    return bool(rows)
