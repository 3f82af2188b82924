"""Rows of the `media_files` table: which file belongs to which message, and where an
inbound download stands. Written inside the transaction that stores the message, so a
message and its file never disagree (the store, the downloader and the outbox all use this).
"""

from __future__ import annotations

from .db import Tx, now_ms


async def queue_download(tx: Tx, media_id: str, message_id: int) -> None:
    """Queue an inbound file for download (in the transaction that stores its message)."""
    now = now_ms()
    await tx.execute(
        "INSERT INTO media_files (media_id, message_id, direction, status, attempts, next_attempt_at,"
        " created_at, updated_at) VALUES (:id, :m, 'inbound', 'pending', 0, :now, :now, :now)"
        " ON CONFLICT (media_id) DO NOTHING",
        id=media_id,
        m=message_id,
        now=now,
    )


async def record_outbound(
    tx: Tx, media_id: str, message_id: int, mime: str, sha256: str, size: int, key: str, filename: str
) -> None:
    """A file an agent sent, already in the media store: served like a received one."""
    now = now_ms()
    await tx.execute(
        "INSERT INTO media_files (media_id, message_id, direction, status, attempts, mime_type, sha256,"
        " size, storage_key, filename, created_at, updated_at) VALUES (:id, :m, 'outbound', 'ready', 0,"
        " :mime, :sha, :size, :k, :name, :now, :now)",
        id=media_id,
        m=message_id,
        mime=mime,
        sha=sha256,
        size=size,
        k=key,
        name=filename,
        now=now,
    )
