"""Media both ways: the media store, the background downloader for inbound files, serving
files to the dashboard, and sending a file an agent attached.

Inbound: Meta's webhook carries only a media id, which expires (the id after about a week,
the download URL it resolves to after five minutes). The message is stored and the webhook
acknowledged first; the download is a step of its own, queued in `media_files` in the same
transaction, run by a worker started in the app lifespan, retried with backoff and finally
marked unavailable. The message's `media.status` says where it is: pending, ready or
unavailable, and every change is a `message.updated` event.

Outbound: the file is checked against WhatsApp's type and size limits (a clear 422 before
anything is sent), kept in the media store, stored with its message, then uploaded to Meta
and sent by the id Meta gives back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import mimetypes
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .auth import User, user_for_token
from .db import Database, Tx, now_ms
from .errors import Gone, Invalid, NotFound, TooLarge, Unauthenticated, Unavailable
from .visibility import may_see
from .whatsapp import CloudAPI, SendError

if TYPE_CHECKING:
    from .settings import Settings
    from .store import Store

log = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
MEDIA_COOKIE = "inbox_token"  # set by the dashboard (static/api.js), path /api/media
MAX_CAPTION = 1024


# -- the media store -----------------------------------------------------------------------


class MediaStore(Protocol):
    """Where file bytes live, by key. A folder by default; an S3-compatible bucket fits too."""

    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def exists(self, key: str) -> bool: ...


_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class FolderStore:
    """Files in a folder (MEDIA_DIR). Writes go to a temporary file renamed into place, so a
    reader never sees half a file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"invalid media key {key!r}")
        return self.root / key

    def local_path(self, key: str) -> Path | None:
        """The file on disk, so it can be served with range requests (video seeking)."""
        path = self._path(key)
        return path if path.is_file() else None

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)


def media_store_for(settings: Settings) -> MediaStore:
    return FolderStore(settings.media_dir)


def content_key(data: bytes) -> tuple[str, str]:
    """(store key, sha256 hex): files are stored by content, so a file is kept once."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}", digest


# -- WhatsApp's limits for files an agent sends --------------------------------------------

MB = 1024 * 1024


@dataclass(frozen=True)
class Limit:
    types: tuple[str, ...]
    max_bytes: int
    caption: bool


DOCUMENT_TYPES = (
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
LIMITS: dict[str, Limit] = {
    "image": Limit(("image/jpeg", "image/png"), 5 * MB, True),
    "video": Limit(("video/mp4", "video/3gpp"), 16 * MB, True),
    "audio": Limit(("audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg"), 16 * MB, False),
    "document": Limit(DOCUMENT_TYPES, 100 * MB, True),
    "sticker": Limit(("image/webp",), 500 * 1024, False),  # 100 KB when not animated
}
STATIC_STICKER_MAX = 100 * 1024
# The largest multipart upload accepted: WhatsApp's largest file plus room for the other fields.
UPLOAD_MAX_BYTES = LIMITS["document"].max_bytes + MB
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/opus": "audio/ogg",
    "audio/x-aac": "audio/aac",
    "video/3gp": "video/3gpp",
}


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are, whatever the browser claimed."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def webp_is_animated(data: bytes) -> bool:
    return len(data) > 20 and data[12:16] == b"VP8X" and bool(data[20] & 0x02)


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{max(1, round(n / 1024))} KB"


def _kind_for(mime: str) -> str | None:
    for kind in ("image", "sticker", "video", "audio", "document"):
        if mime in LIMITS[kind].types:
            return kind
    return None


def classify(data: bytes, filename: str | None, declared: str | None, requested: str | None) -> tuple[str, str]:
    """(message type, MIME type) for a file to send, or a 422 saying what WhatsApp accepts."""
    mime = (declared or "").split(";")[0].strip().lower()
    if not mime or mime == "application/octet-stream":
        mime = (mimetypes.guess_type(filename or "")[0] or "application/octet-stream").lower()
    mime = _ALIASES.get(mime, mime)
    real = sniff(data)
    if real and (mime.startswith("image/") or mime == "application/octet-stream"):
        mime = real
    requested = (requested or "").strip().lower() or None
    if requested is not None and requested not in LIMITS:
        raise Invalid(f"type must be one of {', '.join(MEDIA_KINDS)}", "invalid_media_type")
    kind = requested or _kind_for(mime)
    if kind is None:
        raise Invalid(
            f"WhatsApp does not accept {mime} files: send JPEG or PNG images, MP4 or 3GPP "
            "video, AAC, MP4, MPEG, AMR or OGG audio, WebP stickers, or PDF, Office or text "
            "documents",
            "unsupported_file_type",
        )
    limit = LIMITS[kind]
    if mime not in limit.types:
        raise Invalid(
            f"WhatsApp does not accept {mime} as {'an' if kind[0] in 'aeiou' else 'a'} "
            f"{kind}: it accepts {', '.join(limit.types)}",
            "unsupported_file_type",
        )
    if kind in ("image", "sticker") and real != mime:
        raise Invalid(f"the file is not a valid {mime.split('/')[1].upper()} image", "invalid_image")
    if not data:
        raise Invalid("the file is empty", "file_empty")
    max_bytes = limit.max_bytes
    if kind == "sticker" and not webp_is_animated(data):
        max_bytes = STATIC_STICKER_MAX
    if len(data) > max_bytes:
        what = (
            "animated stickers"
            if kind == "sticker" and max_bytes != STATIC_STICKER_MAX
            else "stickers"
            if kind == "sticker"
            else f"{kind}s"
        )
        raise Invalid(
            f"the file is {_size(len(data))}: WhatsApp accepts {what} up to {_size(max_bytes)}", "file_too_large"
        )
    return kind, mime


def safe_filename(name: str | None, kind: str, mime: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    if not name:
        name = kind + (mimetypes.guess_extension(mime) or "")
    return name[:200]


# -- the download queue --------------------------------------------------------------------


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


class MediaService:
    """The downloader worker, the media store, and sending files."""

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
            raise DownloadFailed(f"the file is {_size(declared_size)}, more than MEDIA_MAX_BYTES", permanent=True)
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
        key, digest = content_key(data)
        if not await self.files.exists(key):
            await self.files.put(key, data)
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
        await self.store._emit_message(tx, "message.updated", message_id, row["owner_id"])

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

    # -- sending a file ------------------------------------------------------------------
    async def send_form(
        self,
        request: Request,
        user: User,
        target_of: Callable[[Request, dict[str, Any]], tuple[int | None, str | None, str | None]],
    ) -> Response:
        """POST /api/conversations/send as multipart/form-data: `file`, optional `caption`
        and `type`, and `conversationId` or `phoneNumber`, optional `clientId`."""
        limit = UPLOAD_MAX_BYTES
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise TooLarge(
                f"the upload is larger than WhatsApp's largest file ({_size(LIMITS['document'].max_bytes)})",
                "file_too_large",
            )
        async with request.form(max_files=1, max_fields=20) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Invalid("send the file as a form field named 'file'", "file_missing")
            if upload.size is not None and upload.size > limit:
                raise TooLarge("the file is larger than WhatsApp's largest file", "file_too_large")
            data = await upload.read()
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str) and v != ""}
            filename, content_type = upload.filename, upload.content_type
        conversation_id, phone, client_id = target_of(request, fields)
        message = await self.send_file(
            user,
            data,
            filename,
            content_type,
            fields.get("caption") or "",
            requested=fields.get("type"),
            phone=phone,
            conversation_id=conversation_id,
            client_id=client_id,
        )
        return JSONResponse(message, status_code=201)

    async def send_file(
        self,
        user: User,
        data: bytes,
        filename: str | None,
        content_type: str | None,
        caption: str = "",
        requested: str | None = None,
        phone: str | None = None,
        conversation_id: int | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        kind, mime = classify(data, filename, content_type, requested)
        caption = caption.strip()
        if caption and not LIMITS[kind].caption:
            raise Invalid(
                f"WhatsApp shows no caption on {kind} messages: send the text as its own message", "caption_not_allowed"
            )
        if len(caption) > MAX_CAPTION:
            raise Invalid(f"the caption is longer than WhatsApp's {MAX_CAPTION} characters", "caption_too_long")
        name = safe_filename(filename, kind, mime)
        key, digest = content_key(data)
        if not await self.files.exists(key):
            await self.files.put(key, data)
        local_id = "out-" + uuid.uuid4().hex
        media = {
            "id": local_id,
            "mimeType": mime,
            "sha256": digest,
            "caption": caption or None,
            "filename": name,
            "size": len(data),
            "status": "ready",
        }

        async def record_file(tx: Tx, message_id: int) -> None:
            now = now_ms()
            await tx.execute(
                "INSERT INTO media_files (media_id, message_id, direction, status, attempts, mime_type, sha256,"
                " size, storage_key, filename, created_at, updated_at) VALUES (:id, :m, 'outbound', 'ready', 0,"
                " :mime, :sha, :size, :k, :name, :now, :now)",
                id=local_id,
                m=message_id,
                mime=mime,
                sha=digest,
                size=len(data),
                k=key,
                name=name,
                now=now,
            )

        content = caption or (name if kind == "document" else "")
        outbound = await self.store.create_outbound(
            user, content, phone, conversation_id, client_id, kind=kind, media=media, after_insert=record_file
        )

        from .outbox import deliver  # here: store.py imports this module, and outbox imports store

        async def upload_and_send(to: str) -> str:
            body: dict[str, Any] = {"id": await self.cloud.upload_media(data, mime, name, from_id=outbound.number_id)}
            if caption:
                body["caption"] = caption
            if kind == "document":
                body["filename"] = name
            return await self.cloud.send_message(to, kind, body, from_id=outbound.number_id)

        return await deliver(self.store, outbound, upload_and_send)


# -- serving files -------------------------------------------------------------------------


def media_token(request: Request) -> str | None:
    """Authorization header, else the dashboard's `inbox_token` cookie, else `?token=`:
    a browser cannot put a header on `<img src>`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(MEDIA_COOKIE)
    if cookie:
        return unquote(cookie)
    return request.query_params.get("token") or None


_INLINE = ("image/jpeg", "image/png", "image/webp", "image/gif")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _disposition(mime: str, filename: str | None) -> str:
    inline = mime in _INLINE or mime.startswith(("audio/", "video/"))
    kind = "inline" if inline else "attachment"
    # A customer's filename may hold anything, CR/LF included, and a header value may not:
    # control characters become spaces (an invalid header made uvicorn drop the response).
    filename = " ".join(_CONTROL.sub(" ", filename or "").split())
    if not filename:
        return kind
    ascii_name = filename.encode("ascii", "replace").decode()
    for ch in '"\\?':
        ascii_name = ascii_name.replace(ch, "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def serve_media(request: Request) -> Response:
    """GET /api/media/{id}: the file, to users who may see its conversation (404 to others)."""
    db = request.app.state.db
    user = await user_for_token(db, media_token(request), request.app.state.settings.agents_see_unassigned)
    if user is None:
        raise Unauthenticated("missing or invalid token: send Authorization: Bearer <token>")
    media_id = request.path_params["id"]
    row = await db.fetch_one(
        "SELECT f.status, f.mime_type, f.storage_key, f.filename, f.sha256, m.media, c.owner_id FROM media_files f"
        " JOIN messages m ON m.id = f.message_id JOIN conversations c ON c.id = m.conversation_id"
        " WHERE f.media_id = :id",
        id=media_id,
    )
    if row is None or not may_see(user, row["owner_id"]):
        raise NotFound(f"media {media_id} not found", "media_not_found")
    if row["status"] in ("pending", "downloading"):
        raise Unavailable(
            "this file is still being downloaded from WhatsApp",
            "media_pending",
            extra={"status": "pending"},
            headers={"Retry-After": "5"},
        )
    if row["status"] != "ready" or not row["storage_key"]:
        raise Gone(
            "this file could not be downloaded from WhatsApp", "media_unavailable", extra={"status": "unavailable"}
        )
    mime = row["mime_type"] or "application/octet-stream"
    filename = row["filename"]
    if not filename and row["media"]:  # an inbound document's name is in its message
        described = json.loads(row["media"])
        filename = described.get("filename") if isinstance(described, dict) else None
    headers = {
        "Content-Disposition": _disposition(mime, filename if isinstance(filename, str) else None),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=86400",
    }
    files: MediaStore = request.app.state.media.files
    local_path = getattr(files, "local_path", None)
    path = local_path(row["storage_key"]) if local_path else None
    if path is not None:  # range requests, so video and audio can seek
        return FileResponse(path, media_type=mime, headers=headers)
    data = await files.get(row["storage_key"])
    if data is None:
        raise Gone("the file is missing from the media store", "media_missing", extra={"status": "unavailable"})
    if row["sha256"]:
        headers["ETag"] = f'"{row["sha256"]}"'
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
    return Response(data, media_type=mime, headers=headers)


routes = [Route("/api/media/{id}", serve_media, methods=["GET"])]
