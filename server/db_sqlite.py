"""SQLite files without `databases`' thread hops: persistent read connections, and the
writer's statements on its own connection.

`databases` opens a connection and a thread for every read and hops to a thread three times
per statement (see bench/README.md). Reads here run on a few persistent connections, one per
worker thread, and the writer's statements run on its own connection directly (each is
microseconds on an indexed row), taking the write lock with BEGIN IMMEDIATE in a thread so
another process holding it never stalls the event loop. A URL that is not a plain file
(`:memory:`, or with `?options`) goes through `databases` as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import migrations
from .db_backend import Backend, WriteConn

SQLITE_READERS = 4  # persistent read connections (threads) per process


class SQLiteWriteConn:
    """The writer's own sqlite3 connection, with the part of `databases`' Connection that
    Tx and the write loop use. Statements run on the event loop thread: no thread hop,
    no SQL compilation; the writer yields to the loop between jobs."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        self._conn.row_factory = sqlite3.Row

    async def execute(self, query: str, values: dict[str, Any] | None = None) -> Any:
        cursor = self._conn.execute(query, values or ())
        return cursor.lastrowid if cursor.lastrowid else cursor.rowcount

    async def fetch_one(self, query: str, values: dict[str, Any] | None = None) -> sqlite3.Row | None:
        cursor = self._conn.execute(query, values or ())
        try:
            row: sqlite3.Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()  # finishes the statement (an INSERT … RETURNING runs to the end)

    async def fetch_all(self, query: str, values: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        return self._conn.execute(query, values or ()).fetchall()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteWriteConn]:
        # BEGIN IMMEDIATE may wait for another process's write lock (up to the timeout), and
        # a COMMIT that fills the WAL runs the checkpoint, writing and syncing the database
        # file: both run in a thread, never on the event loop.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._conn.execute, "BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        try:
            await loop.run_in_executor(None, self._conn.execute, "COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()


class SQLiteReaders:
    """Reads on persistent connections: one per worker thread, opened on first use."""

    def __init__(self, path: str, size: int = SQLITE_READERS) -> None:
        self._path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="sqlite-read")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=5.0)
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def _fetch(self, query: str, values: dict[str, Any] | None, shape: str) -> Any:
        cursor = self._conn().execute(query, values or ())
        try:
            if shape == "val":
                row = cursor.fetchone()
                return None if row is None else row[0]
            names = [d[0] for d in cursor.description or ()]
            if shape == "one":
                row = cursor.fetchone()
                return None if row is None else dict(zip(names, row, strict=False))
            return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    async def fetch(self, query: str, values: dict[str, Any] | None, shape: str) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._fetch, query, values, shape)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()


class SQLiteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        path = url.split("///", 1)[-1].split("?", 1)[0]
        self._file = path if path and path != ":memory:" else None
        # Only a plain file gets the connections of its own; others go through `databases`.
        self._path = self._file if "?" not in url else None
        self._readers: SQLiteReaders | None = None

    async def open(self) -> None:
        if self._file is not None:
            Path(self._file).parent.mkdir(parents=True, exist_ok=True)
        await super().open()
        if self._path is not None:
            self._readers = SQLiteReaders(self._path)

    async def close(self) -> None:
        if self._readers is not None:
            self._readers.close()
            self._readers = None
        await super().close()

    async def fetch_all(self, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        if self._readers is None:
            return await super().fetch_all(sql, values)
        rows: list[dict[str, Any]] = await self._readers.fetch(sql, values, "all")
        return rows

    async def fetch_one(self, sql: str, values: dict[str, Any]) -> dict[str, Any] | None:
        if self._readers is None:
            return await super().fetch_one(sql, values)
        row: dict[str, Any] | None = await self._readers.fetch(sql, values, "one")
        return row

    async def fetch_val(self, sql: str, values: dict[str, Any]) -> Any:
        if self._readers is None:
            return await super().fetch_val(sql, values)
        return await self._readers.fetch(sql, values, "val")

    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[WriteConn]:
        if self._path is None:
            async with super().write_connection() as conn:
                yield conn
            return
        own = SQLiteWriteConn(self._path)
        try:
            yield own
        finally:
            own.close()

    async def before_schema(self, conn: WriteConn) -> None:
        # WAL persists in the file; synchronous is per connection and only this one writes.
        # FULL: a webhook is acknowledged only once its commit is on disk, so not even a
        # power cut loses it (batched commits share the sync).
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await migrations.sqlite_before_schema(conn)  # needs foreign keys off
        await conn.execute("PRAGMA foreign_keys=ON")

    async def after_schema(self, conn: WriteConn) -> None:
        # Messages stored before the search index existed (or bulk-loaded past the trigger)
        # join it now.
        await conn.execute(
            "INSERT INTO messages_search (rowid, content) SELECT id, content FROM messages"
            " WHERE id > (SELECT COALESCE(MAX(rowid), 0) FROM messages_search)"
        )
        await conn.execute(
            "INSERT INTO conversations_search (rowid, name, phone) SELECT id,"
            " trim(coalesce(contact_name, '') || ' ' || coalesce(profile_name, '')), phone_number"
            " FROM conversations WHERE id > (SELECT COALESCE(MAX(rowid), 0) FROM conversations_search)"
        )

    async def has_column(self, conn: WriteConn, table: str, column: str) -> bool:
        sql = "SELECT 1 FROM pragma_table_info(:t) WHERE name = :c"
        return await conn.fetch_one(sql, {"t": table, "c": column}) is not None

    async def between_jobs(self, conn: WriteConn) -> None:
        if isinstance(conn, SQLiteWriteConn):
            await asyncio.sleep(0)  # its statements never yield: let the loop breathe
