"""PostgreSQL through asyncpg: the binds numbered once per statement text, advisory locks.

`databases` compiles every statement through SQLAlchemy (a tenth of a millisecond of CPU
each, see bench/README.md); the same SQL runs on the asyncpg connection underneath with
its `:name` binds rewritten to `$n` once and cached. Each process has its own writer, so a
transaction-scoped advisory lock orders their batches (event ids then commit in id order)
and keeps two processes that start together from racing on CREATE TABLE IF NOT EXISTS.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator
from typing import Any

import databases

from .db_backend import Backend, WriteConn, as_dict

EVENTS_LOCK_KEY = 774_100_1  # any constant shared by every process of one deployment
SCHEMA_LOCK_KEY = EVENTS_LOCK_KEY + 1

# `:name` binds as SQLAlchemy's text() finds them (not `::cast`, not `\:`).
_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` binds as asyncpg's `$n`, one number per distinct name (as `databases` does),
    and the names in number order."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return _BIND.sub(number, sql), tuple(names)


class PGConn:
    """A `databases` PostgreSQL connection used through its asyncpg connection."""

    def __init__(self, conn: databases.core.Connection) -> None:
        self._conn = conn

    @staticmethod
    def _args(query: str, values: dict[str, Any] | None) -> tuple[str, list[Any]]:
        sql, names = numbered(query)
        return sql, [(values or {})[n] for n in names]

    async def execute(self, query: str, values: dict[str, Any] | None = None) -> Any:
        sql, args = self._args(query, values)
        return await self._conn.raw_connection.fetchval(sql, *args)

    async def fetch_one(self, query: str, values: dict[str, Any] | None = None) -> Any:
        sql, args = self._args(query, values)
        return await self._conn.raw_connection.fetchrow(sql, *args)

    async def fetch_all(self, query: str, values: dict[str, Any] | None = None) -> list[Any]:
        sql, args = self._args(query, values)
        rows: list[Any] = await self._conn.raw_connection.fetch(sql, *args)
        return rows

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._conn.transaction()


class PostgresBackend(Backend):
    dialect = "postgresql"

    async def fetch_all(self, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._db.connection() as conn:
            return [as_dict(r) for r in await PGConn(conn).fetch_all(sql, values)]

    async def fetch_one(self, sql: str, values: dict[str, Any]) -> dict[str, Any] | None:
        async with self._db.connection() as conn:
            row = await PGConn(conn).fetch_one(sql, values)
        return None if row is None else as_dict(row)

    async def fetch_val(self, sql: str, values: dict[str, Any]) -> Any:
        async with self._db.connection() as conn:
            row = await PGConn(conn).fetch_one(sql, values)
        return None if row is None else row[0]

    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[WriteConn]:
        async with self._db.connection() as conn:
            yield PGConn(conn)

    async def lock_schema(self, conn: WriteConn) -> None:
        await conn.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")

    async def has_column(self, conn: WriteConn, table: str, column: str) -> bool:
        sql = (
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = :t AND column_name = :c"
        )
        return await conn.fetch_one(sql, {"t": table, "c": column}) is not None

    async def lock_batch(self, conn: WriteConn) -> None:
        await conn.execute(f"SELECT pg_advisory_xact_lock({EVENTS_LOCK_KEY})")
