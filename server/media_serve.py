"""GET /api/media/{id}: a conversation's files, to the users who may see it.

A browser cannot put an Authorization header on `<img src>` or `<audio src>`, so this route
finds its token in the header, the dashboard's HttpOnly session cookie (server/sessions.py) or
`?token=` (links of older scripts). Files are served with range requests (video and audio seek) and a sandboxing CSP,
never as a page of this origin.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from . import sessions
from .errors import Gone, NotFound, Unauthenticated, Unavailable
from .media_storage import MediaStore
from .visibility import may_see

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
    session = await sessions.authenticate(request, query=True)
    if session is None:
        raise Unauthenticated("missing, invalid or expired token: send Authorization: Bearer <token>")
    user = session.user
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
