"""Where file bytes live: received and sent files, kept by their content.

Files are stored by SHA-256, so a photo a customer forwards three times is kept once, and
the media store never needs to know which message a file belongs to (the `media_files`
table says that, server/media_files.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

from .settings import Settings


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


async def keep(files: MediaStore, data: bytes) -> tuple[str, str]:
    """Store the bytes unless the same file is already there: (store key, sha256 hex)."""
    key, digest = content_key(data)
    if not await files.exists(key):
        await files.put(key, data)
    return key, digest
