"""WhatsApp's rules for a file an agent sends: which types it takes as which message, how
large, with or without a caption. Checked before anything is stored or sent, so the agent
reads a clear 422 instead of Meta's refusal minutes later.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass

from .errors import Invalid

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
MAX_CAPTION = 1024

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


def size_text(n: int) -> str:
    """A size as people read it (`4.2 MB`, `87 KB`), for error sentences."""
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
            f"the file is {size_text(len(data))}: WhatsApp accepts {what} up to {size_text(max_bytes)}",
            "file_too_large",
        )
    return kind, mime


def safe_filename(name: str | None, kind: str, mime: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    if not name:
        name = kind + (mimetypes.guess_extension(mime) or "")
    return name[:200]


@dataclass(frozen=True)
class CheckedFile:
    """A file WhatsApp will accept: as which message type, which MIME type, under what name."""

    kind: str
    mime: str
    caption: str
    filename: str


def check_file(
    data: bytes, filename: str | None, declared: str | None, caption: str, requested: str | None
) -> CheckedFile:
    """The file as WhatsApp will take it, or a 422 saying what is wrong (type, size, caption)."""
    kind, mime = classify(data, filename, declared, requested)
    caption = caption.strip()
    if caption and not LIMITS[kind].caption:
        raise Invalid(
            f"WhatsApp shows no caption on {kind} messages: send the text as its own message", "caption_not_allowed"
        )
    if len(caption) > MAX_CAPTION:
        raise Invalid(f"the caption is longer than WhatsApp's {MAX_CAPTION} characters", "caption_too_long")
    return CheckedFile(kind, mime, caption, safe_filename(filename, kind, mime))
