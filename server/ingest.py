"""Webhook ingest: every signed body is committed raw before anything parses it, then applied.

Two stages, so that no body is ever lost and no odd body hides its neighbours:

1. `Ingest.keep(raw)` commits the bytes exactly as received (whatever they contain: deep
   nesting, UTF-16, NULs) into `webhook_events` with `applied = 0`. Concurrent webhooks share
   one write job: one multi-row insert, one transaction, one sync (group commit). Only then is
   the webhook acknowledged.
2. The applier takes committed bodies in id order, parses them (large ones on a thread, so the
   event loop keeps serving), and applies a batch of them in one write job: it claims the rows
   (`applied = 1`, in the same transaction as what they change, so a crash applies a body
   either fully or not at all, and never twice), then applies messages, reactions, statuses
   and account errors. One savepoint covers the batch; only if some item fails is the batch
   redone item by item, each in its own savepoint, and what still fails is kept in
   `webhook_failures` (the item and the reason) for admins.

After a crash the applier finds unapplied rows in the table at start-up (and every few seconds,
for rows another process left behind) and catches up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import amend, template_status
from .db import Database, Tx, now_ms
from .store import Store
from .webhook import Inbound, Parsed, Reaction, Status, UnknownShape, parse

log = logging.getLogger(__name__)

APPLY_BATCH = 200  # bodies per apply job
THREAD_PARSE_BYTES = 256 * 1024  # bodies larger than this are parsed off the event loop
SWEEP_SECONDS = 5.0  # how often the table is checked for bodies nobody is applying
ORPHAN_AFTER_MS = 5_000  # an unapplied row this old is not in any live process's hands
YIELD_EVERY_S = 0.005  # SQLite statements run on the loop: a long apply gives it a turn this often


def encode_body(raw: bytes) -> tuple[str, str]:
    """(text for the `body` column, its encoding): the text itself when it is UTF-8 a text
    column can hold, else base64 of the exact bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    if "\x00" in text:
        return base64.b64encode(raw).decode("ascii"), "base64"
    return text, "utf-8"


def decode_body(body: str, encoding: str) -> bytes:
    return base64.b64decode(body) if encoding == "base64" else body.encode("utf-8")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass
class IngestResult:
    event_id: int
    processed: bool = False
    not_json: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    failures: list[tuple[Any, str]] = field(default_factory=list)  # (item, reason); item None: the body

    def summary(self) -> str:
        parts = [f"{n} {k}" for k, n in self.counts.items() if n]
        text = ", ".join(parts) or "nothing to store"
        reasons = self.problems + [reason for _, reason in self.failures]
        if reasons:
            text += "; not applied: " + "; ".join(reasons[:5])
        return text


@dataclass
class Prepared:
    """One stored body, parsed (or the reason it could not be)."""

    event_id: int
    parsed: Parsed | None
    problem: str | None = None
    not_json: bool = False


def prepare(event_id: int, raw: bytes) -> Prepared:
    """Parse one body. Pure CPU: runs on a thread for large bodies."""
    try:
        body = json.loads(raw)
    except RecursionError:
        return Prepared(event_id, None, "the body is nested too deeply to parse")
    except (ValueError, UnicodeDecodeError):
        return Prepared(event_id, None, "the body is not JSON", not_json=True)
    try:
        return Prepared(event_id, parse(body))
    except UnknownShape as exc:
        return Prepared(event_id, None, str(exc))
    except RecursionError:
        return Prepared(event_id, None, "the body is nested too deeply to parse")
    except Exception as exc:  # a parser bug must not lose the body: it stays stored, marked
        log.exception("webhook event %s could not be parsed", event_id)
        return Prepared(event_id, None, f"the body could not be parsed: {type(exc).__name__}: {exc}")


async def prepare_off_loop(event_id: int, raw: bytes) -> Prepared:
    if len(raw) <= THREAD_PARSE_BYTES:
        return prepare(event_id, raw)
    return await asyncio.get_running_loop().run_in_executor(None, prepare, event_id, raw)


# -- applying ------------------------------------------------------------------------------


class _Yielder:
    """Gives the event loop a turn during a long apply (SQLite statements never yield)."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def __call__(self) -> None:
        if time.perf_counter() - self._since > YIELD_EVERY_S:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


def _items(p: Prepared) -> list[tuple[str, Any]]:
    assert p.parsed is not None
    return (
        [("message", m) for m in p.parsed.inbound]
        + [("reaction", r) for r in p.parsed.reactions]
        + [("status", s) for s in p.parsed.statuses]
        + [("error", (i, e)) for i, e in enumerate(p.parsed.errors)]
        + [("template", t) for t in p.parsed.template_statuses]
    )


async def _apply_item(tx: Tx, store: Store, event_id: int, kind: str, item: Any, counts: dict[str, int]) -> None:
    if kind == "message":
        assert isinstance(item, Inbound)
        if item.type in amend.AMENDMENTS:  # edits, deletions, new number or user id (server/amend.py)
            outcome = await amend.apply(tx, store, item)
            counts[outcome] = counts.get(outcome, 0) + 1
            return
        counts["messages" if await store._inbound(tx, item) else "duplicates"] += 1
    elif kind == "reaction":
        assert isinstance(item, Reaction)
        await store._reaction(tx, item)
        counts["reactions"] += 1
    elif kind == "status":
        assert isinstance(item, Status)
        await store.apply_status(tx, item.wamid, item.status, item.timestamp_ms, item.error)
        counts["statuses"] += 1
    elif kind == "template":  # the local copy follows Meta's review (server/template_status.py)
        if not await template_status.apply(tx, item):
            tx.after_commit.append(store.templates_unknown)
        counts["templates"] = counts.get("templates", 0) + 1
    else:
        position, err = item
        details = err.get("error_data", {}).get("details") if isinstance(err.get("error_data"), dict) else None
        # Keyed by where it came from, so replaying the webhook adds nothing, and by what it
        # says, so Meta delivering the same error twice lists it once (schema.sql).
        raw = _dump(err)
        await tx.execute(
            "INSERT INTO meta_errors (webhook_event_id, position, code, title, detail, raw, created_at, fingerprint)"
            " VALUES (:ev, :pos, :c, :t, :d, :r, :at, :f) ON CONFLICT DO NOTHING",
            f=hashlib.sha256(raw.encode()).hexdigest(),
            ev=event_id,
            pos=position,
            c=err.get("code") if isinstance(err.get("code"), int) else None,
            t=str(err.get("title") or err.get("message") or ""),
            d=details if isinstance(details, str) else None,
            r=raw,
            at=now_ms(),
        )
        counts["errors"] += 1


def _item_view(kind: str, item: Any) -> Any:
    if kind == "error":
        return {"kind": kind, "item": item[1]}
    return {"kind": kind, "item": asdict(item)}


async def _apply_event(tx: Tx, store: Store, p: Prepared, isolate: bool, pause: _Yielder) -> IngestResult:
    result = IngestResult(p.event_id, not_json=p.not_json)
    if p.parsed is None:
        result.failures.append((None, p.problem or "the body could not be applied"))
        return result
    result.problems.extend(p.parsed.not_understood)
    result.failures.extend(p.parsed.failed)
    counts = {"messages": 0, "duplicates": 0, "reactions": 0, "statuses": 0, "errors": 0}
    for kind, item in _items(p):
        await pause()
        if not isolate:
            await _apply_item(tx, store, p.event_id, kind, item, counts)
            continue
        mark = len(tx.after_commit)
        await tx.execute("SAVEPOINT apply_item")
        try:
            await _apply_item(tx, store, p.event_id, kind, item, counts)
        except Exception as exc:
            await tx.execute("ROLLBACK TO SAVEPOINT apply_item")
            del tx.after_commit[mark:]  # its events and wake-ups never happened
            log.warning("webhook event %s: a %s could not be applied: %s", p.event_id, kind, exc)
            reason = f"{kind} could not be applied: {type(exc).__name__}: {exc}"
            result.failures.append((_item_view(kind, item), reason))
        await tx.execute("RELEASE SAVEPOINT apply_item")
    result.counts = counts
    result.processed = not result.problems and not result.failures
    return result


async def _claim(tx: Tx, ids: list[int]) -> set[int]:
    """The rows of `ids` still unapplied, now marked applied (in this transaction)."""
    # processed = 1 optimistically: _record marks the bodies that were not applied whole.
    if tx.dialect == "postgresql":
        rows = await tx.fetch_all(
            "UPDATE webhook_events SET applied = 1, processed = 1 WHERE id = ANY(CAST(:ids AS BIGINT[]))"
            " AND applied = 0 RETURNING id",
            ids=ids,
        )
        return {r["id"] for r in rows}
    claimed = set()
    for event_id in ids:
        if await tx.fetch_one(
            "UPDATE webhook_events SET applied = 1, processed = 1 WHERE id = :id AND applied = 0 RETURNING id",
            id=event_id,
        ):
            claimed.add(event_id)
    return claimed


async def _record(tx: Tx, results: list[IngestResult], replay: bool) -> None:
    """Each body's outcome on its row, and what could not be applied in webhook_failures."""
    if replay:  # a first apply was claimed with processed = 1 already
        for r in results:
            await tx.execute("DELETE FROM webhook_failures WHERE webhook_event_id = :id", id=r.event_id)
            await tx.execute(
                "UPDATE webhook_events SET applied = 1, processed = 1, error = NULL WHERE id = :id", id=r.event_id
            )
    at = now_ms()
    for r in results:
        if r.processed:
            continue
        reasons = r.problems + [reason for _, reason in r.failures]
        await tx.execute(
            "UPDATE webhook_events SET processed = 0, error = :e WHERE id = :id",
            e="; ".join(reasons)[:4000],
            id=r.event_id,
        )
        for item, reason in r.failures:
            await tx.execute(
                "INSERT INTO webhook_failures (webhook_event_id, item, reason, created_at) VALUES (:ev, :i, :r, :at)",
                ev=r.event_id,
                i=None if item is None else _dump(item),
                r=reason,
                at=at,
            )
        log.warning("webhook event %s kept with parts not applied: %s", r.event_id, "; ".join(reasons)[:500])


async def apply_prepared(tx: Tx, store: Store, prepared: list[Prepared], claim: bool = True) -> list[IngestResult]:
    """Apply bodies in order in one transaction; see the module docstring for the savepoints."""
    if claim:
        mine = await _claim(tx, [p.event_id for p in prepared])
        prepared = [p for p in prepared if p.event_id in mine]
    pause = _Yielder()
    mark = len(tx.after_commit)
    await tx.execute("SAVEPOINT apply_batch")
    try:
        results = [await _apply_event(tx, store, p, False, pause) for p in prepared]
    except Exception:
        await tx.execute("ROLLBACK TO SAVEPOINT apply_batch")
        del tx.after_commit[mark:]
        results = [await _apply_event(tx, store, p, True, pause) for p in prepared]
    await tx.execute("RELEASE SAVEPOINT apply_batch")
    await _record(tx, results, replay=not claim)
    return results


async def replay(db: Database, store: Store, event_id: int) -> IngestResult | None:
    """Apply a stored body again (idempotent: messages by wamid, statuses forward only)."""
    row = await db.fetch_one("SELECT body, encoding FROM webhook_events WHERE id = :id", id=event_id)
    if row is None:
        return None
    p = await prepare_off_loop(event_id, decode_body(row["body"], row["encoding"]))

    async def job(tx: Tx) -> list[IngestResult]:
        return await apply_prepared(tx, store, [p], claim=False)

    [result] = await db.write(job)
    return result


# -- the service -----------------------------------------------------------------------------


@dataclass
class _Arrival:
    text: str
    encoding: str
    raw: bytes
    future: asyncio.Future[int]


class Ingest:
    """Keeps webhook bodies (group commit) and applies them in the background."""

    def __init__(self, db: Database, store: Store) -> None:
        self.db = db
        self.store = store
        self._arrivals: list[_Arrival] = []
        self._flush_queued = False
        self._queue: list[tuple[int, bytes]] = []  # committed here, not applied yet
        self._waiters: dict[int, asyncio.Future[IngestResult | None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.on_applied: Callable[[list[IngestResult]], None] = lambda results: None

    # -- stage 1: keep the raw body ------------------------------------------------------
    async def keep(self, raw: bytes) -> int:
        """Commit the body as received; returns its webhook event id once it is durable."""
        text, encoding = encode_body(raw)
        arrival = _Arrival(text, encoding, raw, asyncio.get_running_loop().create_future())
        self._arrivals.append(arrival)
        if not self._flush_queued:
            self._flush_queued = True
            asyncio.get_running_loop().create_task(self._flush())
        return await arrival.future

    async def _flush(self) -> None:
        taken: list[_Arrival] = []

        async def job(tx: Tx) -> None:
            # Everything that arrived while the writer was busy goes into this one commit.
            self._flush_queued = False
            taken.extend(self._arrivals)
            self._arrivals = []
            ids = await _insert_bodies(tx, taken)
            tx.after_commit.append(lambda: self._committed(taken, ids))

        try:
            await self.db.write(job)
        except BaseException as exc:
            if not taken:  # the job never ran: its arrivals wait for the next flush
                self._flush_queued = False
                if self._arrivals:
                    self._flush_queued = True
                    asyncio.get_running_loop().create_task(self._flush())
            for arrival in taken:
                if not arrival.future.done():
                    arrival.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise

    def _committed(self, taken: list[_Arrival], ids: list[int]) -> None:
        loop = asyncio.get_running_loop()
        for arrival, event_id in zip(taken, ids, strict=True):
            self._waiters[event_id] = loop.create_future()
            self._queue.append((event_id, arrival.raw))
            if not arrival.future.done():
                arrival.future.set_result(event_id)
        self._wake.set()

    async def applied(self, event_id: int, timeout: float) -> IngestResult | None:
        """The outcome of applying the body, if it comes within `timeout` seconds (None when
        it does not, or another process applied it: the body is stored either way)."""
        waiter = self._waiters.get(event_id)
        if waiter is None or timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return None

    # -- stage 2: apply --------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-applier")

    async def stop(self, timeout: float = 10.0) -> None:
        """Apply what this process has already acknowledged (bounded), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                left = len(self._queue)
                log.warning("webhook applier stopped with %d bodies unapplied (applied at the next start)", left)
            self._task = None

    async def _run(self) -> None:
        await self._catch_up(older_than=None)
        while True:
            if not self._queue:
                if self._stopping:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), SWEEP_SECONDS)
                self._wake.clear()
                if not self._queue and not self._stopping:
                    await self._catch_up(older_than=now_ms() - ORPHAN_AFTER_MS)
                continue
            batch, self._queue = self._queue[:APPLY_BATCH], self._queue[APPLY_BATCH:]
            await self._apply(batch)

    async def _catch_up(self, older_than: int | None) -> None:
        """Apply rows committed but never applied: a crash, or a process that stopped."""
        after = 0
        while not self._stopping or older_than is None:
            try:
                rows = await self.db.fetch_all(
                    "SELECT id, body, encoding FROM webhook_events WHERE applied = 0 AND id > :after"
                    " AND (:all = 1 OR received_at < :t) ORDER BY id LIMIT :n",
                    after=after,
                    all=1 if older_than is None else 0,
                    t=older_than or 0,
                    n=APPLY_BATCH,
                )
            except Exception:
                log.exception("looking for unapplied webhook bodies failed")
                return
            if not rows:
                return
            after = rows[-1]["id"]
            rows = [r for r in rows if r["id"] not in self._waiters]  # those are in the queue
            if rows:
                log.info("applying %d webhook bodies stored but not applied yet", len(rows))
                await self._apply([(r["id"], decode_body(r["body"], r["encoding"])) for r in rows])

    async def _apply(self, batch: list[tuple[int, bytes]]) -> None:
        prepared = [await prepare_off_loop(event_id, raw) for event_id, raw in batch]

        async def job(tx: Tx) -> list[IngestResult]:
            return await apply_prepared(tx, self.store, prepared)

        try:
            results = await self.db.write(job)
        except Exception:
            # Left unapplied in the table: the sweep retries them.
            log.exception("applying %d webhook bodies failed; they stay stored and are retried", len(batch))
            results = []
        by_id = {r.event_id: r for r in results}
        for event_id, _ in batch:
            waiter = self._waiters.pop(event_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(by_id.get(event_id))
        for r in results:
            log.debug("webhook event %s applied: %s", r.event_id, r.summary())
        if results:
            self.on_applied(results)


async def _insert_bodies(tx: Tx, arrivals: list[_Arrival]) -> list[int]:
    at = now_ms()
    if tx.dialect == "postgresql":
        rows = await tx.fetch_all(
            "INSERT INTO webhook_events (received_at, body, encoding, processed, applied)"
            " SELECT :at, u.body, u.encoding, 0, 0"
            " FROM unnest(CAST(:bodies AS TEXT[]), CAST(:encodings AS TEXT[])) AS u(body, encoding) RETURNING id",
            at=at,
            bodies=[a.text for a in arrivals],
            encodings=[a.encoding for a in arrivals],
        )
        return sorted(r["id"] for r in rows)  # identities are drawn in the order of the rows
    return [
        await tx.fetch_val(
            "INSERT INTO webhook_events (received_at, body, encoding, processed, applied)"
            " VALUES (:at, :b, :e, 0, 0) RETURNING id",
            at=at,
            b=a.text,
            e=a.encoding,
        )
        for a in arrivals
    ]
