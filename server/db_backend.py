"""What the database handle (db.py) needs from one database, and nothing else.

The writer, its batches and savepoints are the same everywhere; what differs is how reads
run, which connection the writer holds, what a database needs before and after schema.sql,
and how processes take turns. Each database is one subclass (db_sqlite.py, db_postgres.py),
picked by the URL's scheme in db.backend_for, as broadcaster picks its backends.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, Protocol

import databases


class WriteConn(Protocol):
    """What the writer and Tx use of a connection: `databases`' Connection, or a backend's own."""

    async def execute(self, query: str, values: dict[str, Any] | None = None) -> Any: ...

    async def fetch_one(self, query: str, values: dict[str, Any] | None = None) -> Any: ...

    async def fetch_all(self, query: str, values: dict[str, Any] | None = None) -> Sequence[Any]: ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]: ...


def as_dict(row: Any) -> dict[str, Any]:
    """A row of any of the drivers (sqlite3, asyncpg, SQLAlchemy's) as a plain dict."""
    if isinstance(row, sqlite3.Row):
        return dict(zip(row.keys(), row, strict=False))
    return dict(row._mapping) if hasattr(row, "_mapping") else dict(row.items())


class Backend:
    """One database's ways. The defaults go through `databases`; subclasses replace what
    their database does better (see their docstrings)."""

    dialect: ClassVar[str]

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = databases.Database(url)

    async def open(self) -> None:
        await self._db.connect()

    async def close(self) -> None:
        """After the writer has stopped."""
        await self._db.disconnect()

    # -- reads, outside the writer ---------------------------------------------------------
    async def fetch_all(self, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        rows = await self._db.fetch_all(query=sql, values=values or None)
        return [dict(r._mapping) for r in rows]

    async def fetch_one(self, sql: str, values: dict[str, Any]) -> dict[str, Any] | None:
        row = await self._db.fetch_one(query=sql, values=values or None)
        return None if row is None else dict(row._mapping)

    async def fetch_val(self, sql: str, values: dict[str, Any]) -> Any:
        row = await self._db.fetch_one(query=sql, values=values or None)
        return None if row is None else row[0]

    # -- the writer --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[WriteConn]:
        """The one connection the writer holds while it runs."""
        async with self._db.connection() as conn:
            yield conn

    async def before_schema(self, conn: WriteConn) -> None:
        """Runs first on the writer's connection, outside any transaction."""

    async def lock_schema(self, conn: WriteConn) -> None:
        """In the schema's transaction: keeps two processes starting together apart."""

    async def after_schema(self, conn: WriteConn) -> None:
        """In the schema's transaction, after schema.sql (not after a test's own schema)."""

    async def has_column(self, conn: WriteConn, table: str, column: str) -> bool:
        raise NotImplementedError

    async def lock_batch(self, conn: WriteConn) -> None:
        """In each batch's transaction, first: orders batches across processes."""

    async def between_jobs(self, conn: WriteConn) -> None:
        """Between two jobs of a batch."""
