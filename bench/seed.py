"""A large inbox, bulk-inserted straight into the database before the server starts.

Conversations get a skewed share of the messages (a few long threads, many short ones), the
messages are interleaved in time across conversations as real traffic is, ~30% of the
conversations end in unread inbound messages, 1% of the messages carry a reaction and 3%
quote an earlier message. Deterministic for a given size (random.Random(42)).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

CHUNK = 50_000
DAY_MS = 24 * 3600 * 1000


@dataclass
class Plan:
    conversations: int
    messages: int
    admin_id: int
    agent_id: int
    # filled by generate(): what the queries use
    names: list[str] = field(default_factory=list)
    long_conversations: list[int] = field(default_factory=list)
    unread_conversations: list[int] = field(default_factory=list)
    reactions: int = 0


def _words(rng: random.Random, n: int, parts: int) -> list[str]:
    syll = [c + v for c in "bdfghjklmnprstvwyz" for v in "aeiou"]
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(syll) for _ in range(rng.randint(parts, parts + 1))))
    return sorted(out)


def generate(plan: Plan) -> tuple[list[tuple], Iterator[list[tuple]], list[tuple]]:
    """(conversation rows, message rows in chunks, reaction rows). Message rows are built
    lazily; the reaction list is complete once every chunk has been consumed."""
    rng = random.Random(42)
    n_conv, n_msg = plan.conversations, plan.messages
    vocab = _words(rng, 3000, 2)
    firsts = [w.capitalize() for w in _words(rng, 300, 2)]
    lasts = [w.capitalize() for w in _words(rng, 400, 3)]
    now = int(time.time() * 1000)
    t_start = now - 90 * DAY_MS
    t_end = now - 3600 * 1000

    # Who wrote each message: every conversation at least once, the rest Pareto-skewed.
    weights = [rng.paretovariate(1.2) for _ in range(n_conv)]
    order = list(range(1, n_conv + 1))
    rng.shuffle(order)
    extra = rng.choices(range(1, n_conv + 1), weights=weights, k=n_msg - n_conv)
    owners_of_msg = order + extra
    rng.shuffle(owners_of_msg)  # interleaved in time, as real traffic is
    counts = [0] * (n_conv + 1)
    for c in owners_of_msg:
        counts[c] += 1
    unread = [False] + [rng.random() < 0.3 for _ in range(n_conv)]
    owner = [None] + [
        plan.agent_id if r < 0.7 else plan.admin_id if r < 0.8 else None for r in (rng.random() for _ in range(n_conv))
    ]
    # Decide each message's direction; the trailing run of inbound messages of an unread
    # conversation stays 'received' (and counts as unread).
    direction = [rng.random() < 0.55 for _ in range(n_msg)]  # True = inbound
    last_out_seen_rev = [False] * (n_conv + 1)
    received = bytearray(n_msg)
    unread_count = [0] * (n_conv + 1)
    for i in range(n_msg - 1, -1, -1):
        c = owners_of_msg[i]
        if not unread[c] or last_out_seen_rev[c]:
            continue
        if direction[i]:
            received[i] = 1
            unread_count[c] += 1
        else:
            last_out_seen_rev[c] = True

    names = [f"{rng.choice(firsts)} {rng.choice(lasts)}" for _ in range(n_conv + 1)]
    step = (t_end - t_start) / n_msg
    last_id: list[int | None] = [None] * (n_conv + 1)
    last_in: list[int | None] = [None] * (n_conv + 1)
    for i, c in enumerate(owners_of_msg):
        last_id[c] = i + 1
        if direction[i]:
            last_in[c] = int(t_start + i * step)
    # Most conversations of a long-lived inbox are resolved; unread ones are open.
    status = [None] + [
        "open" if unread_count[c] else "resolved" if r < 0.6 else "open" if r < 0.9 else "pending"
        for c, r in zip(range(1, n_conv + 1), (rng.random() for _ in range(n_conv)), strict=True)
    ]
    conversations = []
    for c in range(1, n_conv + 1):
        phone = "+" + wa_digits(c)
        at = int(t_start + (last_id[c] - 1) * step)
        conversations.append(
            (
                c,
                phone,
                phone,
                None,
                names[c],
                owner[c],
                last_id[c],
                at,
                last_in[c],
                unread_count[c],
                t_start,
                status[c],
                unread_count[c],
            )
        )
    plan.names = names[1:]
    plan.long_conversations = [c for c in range(1, n_conv + 1) if counts[c] >= 60]
    plan.unread_conversations = [c for c in range(1, n_conv + 1) if unread_count[c] > 0]
    prev_wamid: list[str | None] = [None] * (n_conv + 1)
    reactions: list[tuple] = []

    def chunks() -> Iterator[list[tuple]]:
        rows: list[tuple] = []
        for i in range(n_msg):
            mid = i + 1
            c = owners_of_msg[i]
            at = int(t_start + i * step)
            inbound = direction[i]
            wamid = f"wamid.L{mid:010d}"
            content = " ".join(rng.choices(vocab, k=rng.randint(3, 12)))
            reply = prev_wamid[c] if prev_wamid[c] and rng.random() < 0.03 else None
            if inbound:
                status = "received" if received[i] else "read"
                rows.append(
                    (
                        mid,
                        c,
                        wamid,
                        None,
                        "inbound",
                        "text",
                        content,
                        None,
                        None,
                        reply,
                        status,
                        None,
                        None,
                        at,
                        None,
                        None,
                        None if received[i] else at + 60_000,
                    )
                )
            else:
                rows.append(
                    (
                        mid,
                        c,
                        wamid,
                        None,
                        "outbound",
                        "text",
                        content,
                        None,
                        None,
                        reply,
                        "read",
                        None,
                        plan.agent_id,
                        at,
                        at + 500,
                        at + 1500,
                        at + 60_000,
                    )
                )
            if rng.random() < 0.01:  # customers react to replies, agents to customers
                reactor, by = ("agent", "outbound") if inbound else ("+" + wa_digits(c), "inbound")
                reactions.append(
                    (wamid, reactor, by, rng.choice(["👍", "❤️", "😂", "🙏"]), f"wamid.R{mid:010d}", at + 30_000)
                )
            prev_wamid[c] = wamid
            if len(rows) >= CHUNK:
                yield rows
                rows = []
        if rows:
            yield rows
        plan.reactions = len(reactions)

    return conversations, chunks(), reactions


def wa_digits(c: int) -> str:
    return "2556" + str(c).zfill(8)


MESSAGE_COLS = (
    "id",
    "conversation_id",
    "wamid",
    "client_id",
    "direction",
    "type",
    "content",
    "media",
    "data",
    "reply_to_wamid",
    "status",
    "error",
    "sender_user_id",
    "created_at",
    "sent_at",
    "delivered_at",
    "read_at",
)
CONVERSATION_COLS = (
    "id",
    "phone_number",
    "phone_key",
    "wa_user_id",
    "contact_name",
    "owner_id",
    "last_message_id",
    "last_message_at",
    "last_inbound_at",
    "unread_count",
    "created_at",
    "status",
    "inbound_count",
)
REACTION_COLS = ("message_wamid", "reactor", "direction", "emoji", "wamid", "created_at")


def _insert_sql(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"


def seed_sqlite(path: str, plan: Plan) -> None:
    import sqlite3

    conversations, message_chunks, reactions = generate(plan)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1000000")
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("BEGIN")
        db.executemany(_insert_sql("conversations", CONVERSATION_COLS), conversations)
        sql = _insert_sql("messages", MESSAGE_COLS)
        for rows in message_chunks:
            db.executemany(sql, rows)
        db.executemany(_insert_sql("reactions", REACTION_COLS), reactions)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()


async def seed_postgres(url: str, plan: Plan) -> None:
    import asyncpg

    conversations, message_chunks, reactions = generate(plan)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("conversations", records=conversations, columns=list(CONVERSATION_COLS))
            for rows in message_chunks:
                await conn.copy_records_to_table("messages", records=rows, columns=list(MESSAGE_COLS))
            await conn.copy_records_to_table("reactions", records=reactions, columns=list(REACTION_COLS))
            for table in ("messages", "conversations"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
        await conn.execute("ANALYZE")  # what autovacuum would have done by now
    finally:
        await conn.close()


def describe(plan: Plan) -> dict[str, Any]:
    return {
        "conversations": plan.conversations,
        "messages": plan.messages,
        "reactions": plan.reactions,
        "unread_conversations": len(plan.unread_conversations),
        "conversations_with_60_plus_messages": len(plan.long_conversations),
    }
