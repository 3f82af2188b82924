"""Customers' files, downloaded in the background.

Meta's webhook carries only a media id, which expires (the id after about a week, the
download URL it resolves to after five minutes). The message is stored and the webhook
acknowledged first; the download is a step of its own, queued in `media_files` in the same
transaction (server/media_files.py), run by this worker (started in the app lifespan),
retried with backoff and finally marked unavailable. The message's `media.status` says where
it is: pending, ready or unavailable, and every change is a `message.updated` event.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from typing import Any
from urllib.parse import quote

from .db import Database, Tx, now_ms
from .media_files import queue_download
from .media_rules import size_text
from .media_storage import MediaStore, keep, media_store_for
from .settings import Settings
from .store import Store
from .whatsapp import CloudAPI, SendError

log = logging.getLogger(__name__)


class DownloadFailed(Exception):
    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


def _sha_matches(expected: str, data: bytes) -> bool:
    """Meta gives SHA-256 as hex in one place and base64 in another: accept either."""
    digest = hashlib.sha256(data).digest()
    expected = expected.strip()
    return expected.lower() == digest.hex() or expected in (
        base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode(),
        base64.b64encode(digest).decode().rstrip("="),
        base64.urlsafe_b64encode(digest).decode().rstrip("="),
    )


class MediaDownloads:
    """The downloader worker of one server process (and `download-media` by hand)."""

    def __init__(
        self,
        db: Database,
        store: Store,
        cloud: CloudAPI,
        settings: Settings,
        files: MediaStore | None = None,
        concurrency: int = 4,
    ) -> None:
        self.db = db
        self.store = store
        self.cloud = cloud
        self.settings = settings
        self.files = files or media_store_for(settings)
        self.concurrency = concurrency
        self.delays = tuple(settings.media_retry_delays)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._active: set[asyncio.Task[None]] = set()

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    # -- the worker ----------------------------------------------------------------------
    def start(self) -> None:
        self.store.media_queued = self.wake
        self._task = asyncio.create_task(self._run(), name="media-downloader")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._active) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    def wake(self) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            wait = 30.0
            try:
                room = self.concurrency - len(self._active)
                if room > 0:
                    for row in await self.claim(room):
                        task = asyncio.create_task(self._download(row), name=f"media-{row['media_id']}")
                        self._active.add(task)
                        task.add_done_callback(self._done)
                    wait = await self._seconds_to_next_due()
            except Exception:
                log.exception("media downloader: claiming downloads failed")
                wait = 5.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._active.discard(task)
        self._wakeup.set()

    async def _seconds_to_next_due(self) -> float:
        due = await self.db.fetch_val(
            "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM media_files WHERE status = 'pending'"
            " UNION ALL SELECT MIN(claimed_until) AS t FROM media_files WHERE status = 'downloading') x"
        )
        if due is None:
            return 30.0
        return min(30.0, max(0.01, (int(due) - now_ms()) / 1000 + 0.005))

    def _lease_ms(self) -> int:
        return int((self.settings.media_download_timeout * 2 + 60) * 1000)

    async def claim(self, limit: int, media_id: str | None = None) -> list[dict[str, Any]]:
        """Atomically take up to `limit` due downloads (or the one named, due or not)."""

        async def job(tx: Tx) -> list[dict[str, Any]]:
            now = now_ms()
            claimable = (
                "(status = 'pending' AND next_attempt_at <= :now) OR (status = 'downloading' AND claimed_until < :now)"
            )
            values: dict[str, Any]
            if media_id is not None:
                where, values = "media_id = :id AND status = 'pending'", {"id": media_id}
            else:
                where = (
                    f"media_id IN (SELECT media_id FROM media_files WHERE {claimable}"
                    f" ORDER BY next_attempt_at LIMIT :n) AND ({claimable})"
                )
                values = {"n": limit}
            return await tx.fetch_all(
                "UPDATE media_files SET status = 'downloading', attempts = attempts + 1, claimed_until = :lease,"
                f" updated_at = :now WHERE {where} RETURNING media_id, message_id, attempts",
                now=now,
                lease=now + self._lease_ms(),
                **values,
            )

        return await self.db.write(job)

    async def _download(self, row: dict[str, Any]) -> None:
        media_id, message_id, attempts = str(row["media_id"]), row["message_id"], int(row["attempts"])
        try:
            stored = await asyncio.wait_for(
                self._fetch(media_id, message_id), timeout=self.settings.media_download_timeout
            )
        except asyncio.CancelledError:
            raise
        except DownloadFailed as exc:
            await self._failed(media_id, attempts, str(exc), exc.permanent)
        except TimeoutError:
            await self._failed(media_id, attempts, f"took longer than {self.settings.media_download_timeout:g} s")
        except SendError as exc:
            await self._failed(media_id, attempts, exc.error.get("detail") or exc.error["message"])
        except Exception as exc:
            log.exception("download of media %s crashed", media_id)
            await self._failed(media_id, attempts, f"{type(exc).__name__}: {exc}")
        else:
            await self._ready(media_id, *stored)

    async def _fetch(self, media_id: str, message_id: int | None) -> tuple[str, str | None, str, int]:
        """Resolve the id to its URL, download, check, store: (key, mime, sha256, size)."""
        info = await self.cloud.get_json(
            quote(media_id, safe=""), timeout=self.settings.media_download_timeout, retry=False
        )
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise DownloadFailed(f"no download URL in Meta's answer {json.dumps(info)[:200]}")
        limit = self.settings.media_max_bytes
        declared = info.get("file_size")
        declared_size = int(declared) if isinstance(declared, (int, str)) and str(declared).isdigit() else None
        if declared_size is not None and declared_size > limit:
            raise DownloadFailed(f"the file is {size_text(declared_size)}, more than MEDIA_MAX_BYTES", permanent=True)
        try:
            data = await self.cloud.download(url, limit, self.settings.media_download_timeout)
        except SendError as exc:
            raise DownloadFailed(
                exc.error.get("detail") or exc.error["message"], permanent=exc.error.get("title") == "Too large"
            ) from None
        if declared_size is not None and len(data) != declared_size:
            raise DownloadFailed(f"got {len(data)} bytes, Meta announced {declared_size}")
        expected = info.get("sha256")
        if not expected and message_id is not None:
            expected = await self._webhook_sha256(message_id)
        if isinstance(expected, str) and expected and not _sha_matches(expected, data):
            raise DownloadFailed("the file's SHA-256 does not match Meta's")
        key, digest = await keep(self.files, data)
        mime = info.get("mime_type") if isinstance(info.get("mime_type"), str) else None
        return key, mime, digest, len(data)

    async def _webhook_sha256(self, message_id: int) -> str | None:
        raw = await self.db.fetch_val("SELECT media FROM messages WHERE id = :id", id=message_id)
        media = json.loads(raw) if raw else None
        return media.get("sha256") if isinstance(media, dict) else None

    async def _ready(self, media_id: str, key: str, mime: str | None, digest: str, size: int) -> None:
        async def job(tx: Tx) -> None:
            rows = await tx.fetch_all(
                "UPDATE media_files SET status = 'ready', storage_key = :k, mime_type = COALESCE(:mime, mime_type),"
                " sha256 = :sha, size = :size, error = NULL, claimed_until = NULL, next_attempt_at = NULL,"
                " updated_at = :now WHERE media_id = :id AND status = 'downloading' RETURNING message_id",
                k=key,
                mime=mime,
                sha=digest,
                size=size,
                now=now_ms(),
                id=media_id,
            )
            if rows and rows[0]["message_id"] is not None:
                await self._set_message_media(tx, rows[0]["message_id"], status="ready", size=size)

        await self.db.write(job)
        log.info("media %s downloaded (%d bytes)", media_id, size)

    async def _failed(self, media_id: str, attempts: int, reason: str, permanent: bool = False) -> None:
        exhausted = permanent or attempts >= self.max_attempts

        async def job(tx: Tx) -> None:
            now = now_ms()
            if exhausted:
                rows = await tx.fetch_all(
                    "UPDATE media_files SET status = 'unavailable', error = :e, claimed_until = NULL,"
                    " next_attempt_at = NULL, updated_at = :now WHERE media_id = :id AND status = 'downloading'"
                    " RETURNING message_id",
                    e=reason,
                    now=now,
                    id=media_id,
                )
                if rows and rows[0]["message_id"] is not None:
                    await self._set_message_media(tx, rows[0]["message_id"], status="unavailable")
            else:
                delay = self.delays[min(attempts, len(self.delays)) - 1] if self.delays else 0
                await tx.execute(
                    "UPDATE media_files SET status = 'pending', error = :e, claimed_until = NULL,"
                    " next_attempt_at = :next, updated_at = :now WHERE media_id = :id AND status = 'downloading'",
                    e=reason,
                    next=now + int(delay * 1000),
                    now=now,
                    id=media_id,
                )

        await self.db.write(job)
        if exhausted:
            log.warning("media %s unavailable after %d attempt(s): %s", media_id, attempts, reason)
        else:
            log.info(
                "download of media %s failed (attempt %d of %d): %s; will retry",
                media_id,
                attempts,
                self.max_attempts,
                reason,
            )
        self.wake()

    async def _set_message_media(self, tx: Tx, message_id: int, **changes: Any) -> None:
        row = await tx.fetch_one(
            "SELECT m.media, c.owner_id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.id = :id",
            id=message_id,
        )
        if row is None:
            return
        media = json.loads(row["media"]) if row["media"] else {}
        if not isinstance(media, dict):
            media = {}
        media.update(changes)
        await tx.execute(
            "UPDATE messages SET media = :m WHERE id = :id",
            m=json.dumps(media, ensure_ascii=False, separators=(",", ":")),
            id=message_id,
        )
        await self.store.emit_message(tx, "message.updated", message_id, row["owner_id"])

    # -- by hand (python -m server download-media) ------------------------------------------
    async def backfill(self) -> int:
        """Queue inbound media of messages stored before downloads existed."""
        rows = await self.db.fetch_all(
            "SELECT m.id, m.media FROM messages m WHERE m.direction = 'inbound' AND m.media IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM media_files f WHERE f.message_id = m.id)"
        )
        queued = 0
        for row in rows:
            media = json.loads(row["media"]) if row["media"] else None
            if not isinstance(media, dict) or not media.get("id"):
                continue
            media_id = str(media["id"])

            async def job(tx: Tx, media_id: str = media_id, message_id: int = row["id"]) -> None:
                await queue_download(tx, media_id, message_id)
                await self._set_message_media(tx, message_id, status="pending")

            await self.db.write(job)
            queued += 1
        return queued

    async def download_now(self, retry_failed: bool = False) -> dict[str, int]:
        """Try every pending download once now, whatever its schedule (and, with
        `retry_failed`, the unavailable ones again, with a fresh set of attempts)."""
        if retry_failed:

            async def reset(tx: Tx) -> list[dict[str, Any]]:
                rows = await tx.fetch_all(
                    "UPDATE media_files SET status = 'pending', attempts = 0, next_attempt_at = :now, error = NULL,"
                    " updated_at = :now WHERE status = 'unavailable' AND direction = 'inbound'"
                    " RETURNING media_id, message_id",
                    now=now_ms(),
                )
                for r in rows:
                    if r["message_id"] is not None:
                        await self._set_message_media(tx, r["message_id"], status="pending")
                return rows

            await self.db.write(reset)
        ids = [
            r["media_id"]
            for r in await self.db.fetch_all(
                "SELECT media_id FROM media_files WHERE status = 'pending' ORDER BY created_at"
            )
        ]
        for media_id in ids:
            for row in await self.claim(1, media_id=media_id):
                await self._download(row)
        counts = {"tried": len(ids), "ready": 0, "pending": 0, "unavailable": 0}
        for media_id in ids:
            status = await self.db.fetch_val("SELECT status FROM media_files WHERE media_id = :id", id=media_id)
            counts[status] = counts.get(status, 0) + 1
        return counts
