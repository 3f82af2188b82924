"""A conversation's label names, kept beside its conversation_labels rows.

The list the API shows is stored on the conversation; labels and merges both change the rows,
so both rewrite the list through this one function.
"""

from __future__ import annotations

import json

from .db import Tx


async def store_names(tx: Tx, conversation_id: int) -> None:
    rows = await tx.fetch_all(
        "SELECT l.name FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id"
        " WHERE cl.conversation_id = :c ORDER BY l.name",
        c=conversation_id,
    )
    await tx.execute(
        "UPDATE conversations SET labels = :l WHERE id = :id",
        l=json.dumps([r["name"] for r in rows], ensure_ascii=False),
        id=conversation_id,
    )
