"""The database handle: reads run anywhere, writes go through one writer.

`databases` over SQLite opens a connection per task and a plain `BEGIN`, so concurrent
read-then-write transactions fail with "database is locked". Every write therefore runs as a
job on a single writer task that owns one connection and commits jobs in batches: one
transaction per batch, one savepoint per job, so a failing job never takes its neighbours
down. PostgreSQL uses the same path (one writer per process).

What differs between the databases (how reads run, the writer's connection, what comes
before and after schema.sql, locks across processes) is one backend each: db_sqlite.py and
db_postgres.py, behind db_backend.Backend, picked by the URL's scheme.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import schema
from .db_backend import Backend, WriteConn, as_dict
from .db_postgres import PostgresBackend
from .db_sqlite import SQLiteBackend

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 200

BACKENDS: dict[str, type[Backend]] = {
    "sqlite": SQLiteBackend,
    "postgresql": PostgresBackend,
    "postgres": PostgresBackend,
}


def now_ms() -> int:
    return int(time.time() * 1000)


def normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def backend_for(url: str) -> Backend:
    """The backend for a database URL's scheme (`sqlite+aiosqlite://` is SQLite)."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in BACKENDS:
        raise ValueError(f"database URL {url.split(':', 1)[0]}://…: expected sqlite:/// or postgresql://")
    return BACKENDS[scheme](url)


class Tx:
    """What a write job sees: its connection, and hooks that run once the batch commits."""

    def __init__(self, conn: WriteConn, dialect: str) -> None:
        self._conn = conn
        self.dialect = dialect
        self.after_commit: list[Callable[[], Any]] = []

    async def execute(self, sql: str, **values: Any) -> Any:
        return await self._conn.execute(query=sql, values=values or None)

    async def fetch_one(self, sql: str, **values: Any) -> dict[str, Any] | None:
        row = await self._conn.fetch_one(query=sql, values=values or None)
        return None if row is None else as_dict(row)

    async def fetch_all(self, sql: str, **values: Any) -> list[dict[str, Any]]:
        rows = await self._conn.fetch_all(query=sql, values=values or None)
        return [as_dict(r) for r in rows]

    async def fetch_val(self, sql: str, **values: Any) -> Any:
        row = await self._conn.fetch_one(query=sql, values=values or None)
        return None if row is None else row[0]


@dataclass
class _Job:
    fn: Callable[[Tx], Awaitable[Any]]
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Database:
    def __init__(self, url: str, schema: str | None = None) -> None:
        """`schema` is SQL to apply instead of schema.sql (tests of the schema machinery)."""
        self.url = normalise_url(url)
        self._schema = schema
        self._backend = backend_for(self.url)
        self.dialect = self._backend.dialect
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        """Open the database, apply schema.sql and start the writer."""
        await self._backend.open()
        self._ready = asyncio.get_running_loop().create_future()
        self._writer = asyncio.create_task(self._write_loop(), name="db-writer")
        await self._ready

    async def disconnect(self) -> None:
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None
        await self._backend.close()

    # -- reads ---------------------------------------------------------------------------
    async def fetch_all(self, sql: str, **values: Any) -> list[dict[str, Any]]:
        return await self._backend.fetch_all(sql, values)

    async def fetch_one(self, sql: str, **values: Any) -> dict[str, Any] | None:
        return await self._backend.fetch_one(sql, values)

    async def fetch_val(self, sql: str, **values: Any) -> Any:
        return await self._backend.fetch_val(sql, values)

    # -- writes --------------------------------------------------------------------------
    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in the writer's transaction; returns once its batch has committed."""
        if self._writer is None or self._writer.done():
            raise RuntimeError("the database writer is not running")
        job = _Job(fn)
        await self._queue.put(job)
        result: T = await job.future
        return result

    async def _write_loop(self) -> None:
        ready = self._ready
        assert ready is not None, "connect() creates it before starting the writer"
        async with self._backend.write_connection() as conn:
            try:
                await self._prepare(conn)
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            while True:
                job = await self._queue.get()
                if job is None:
                    return
                batch = [job]
                while len(batch) < MAX_BATCH and not self._queue.empty():
                    nxt = self._queue.get_nowait()
                    if nxt is None:
                        await self._queue.put(None)  # stop after this batch
                        break
                    batch.append(nxt)
                await self._run_batch(conn, batch)

    async def _prepare(self, conn: WriteConn) -> None:
        await self._backend.before_schema(conn)
        async with conn.transaction():
            await self._backend.lock_schema(conn)
            for statement in schema.statements(self.dialect, self._schema):
                added = schema.ADD_COLUMN.match(statement)
                if added and await self._backend.has_column(conn, added["table"], added["column"]):
                    continue  # SQLite has no ADD COLUMN IF NOT EXISTS: a column added once stays
                await conn.execute(statement)
            if self._schema is None:
                await self._backend.after_schema(conn)

    async def _run_batch(self, conn: WriteConn, batch: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any, Tx]] = []
        try:
            async with conn.transaction():
                await self._backend.lock_batch(conn)
                for i, job in enumerate(batch):
                    if i:
                        await self._backend.between_jobs(conn)
                    tx = Tx(conn, self.dialect)
                    await conn.execute("SAVEPOINT job")
                    try:
                        value = await job.fn(tx)
                    except Exception as exc:  # the job's own failure: undo it, keep the batch
                        await conn.execute("ROLLBACK TO SAVEPOINT job")
                        await conn.execute("RELEASE SAVEPOINT job")
                        results.append((job, False, exc, tx))
                    else:
                        await conn.execute("RELEASE SAVEPOINT job")
                        results.append((job, True, value, tx))
        except BaseException as exc:  # the commit itself failed: nothing of the batch is stored
            log.exception("write batch of %d jobs failed", len(batch))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for job, ok, value, tx in results:
            if ok:
                for hook in tx.after_commit:
                    try:
                        hook()
                    except Exception:
                        log.exception("after-commit hook failed")
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
