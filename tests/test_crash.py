"""kill -9 under webhook load: every webhook the server acknowledged is stored and applied after
the restart, and nothing is applied twice (one message per wamid, one `message.created` event per
message, the customer-message counts equal to the messages), whatever Meta retried."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from server.db import Database
from server.signature import sign
from tests.conftest import DATABASES
from tests.restarts import Restartable, server_env
from tests.servers import APP_SECRET, database_url, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

POSTERS = 6  # concurrent webhook senders, one customer each
KILL_AFTER_ACKS = 120  # acknowledged webhooks before the kill -9


def messages_body(phone: str, wamids: list[str]) -> bytes:
    """One webhook with one text message per wamid, as Meta batches them."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Crash"}, "wa_id": phone}],
        "messages": [
            {"from": phone, "id": w, "timestamp": str(int(time.time())), "type": "text", "text": {"body": w}}
            for w in wamids
        ],
    }
    entry = {"id": "w", "changes": [{"field": "messages", "value": value}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


async def post_until_refused(url: str, phone: str, acked: set[str], stop: asyncio.Event) -> None:
    """Send webhooks (every third one twice, as Meta retries) until the server stops answering."""
    async with httpx.AsyncClient(timeout=10) as http:
        for i in range(10_000):
            if stop.is_set():
                return
            wamids = [f"wamid.crash.{phone}.{i}.{k}" for k in range(1 + i % 2)]
            body = messages_body(phone, wamids)
            for _ in range(2 if i % 3 == 0 else 1):
                try:
                    r = await http.post(
                        f"{url}/webhook",
                        content=body,
                        headers={"X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"},
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    acked.update(wamids)


async def wait_until_applied(db: Database, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while await db.fetch_val("SELECT COUNT(*) FROM webhook_events WHERE applied = 0"):
        assert time.monotonic() < deadline, "the restarted server did not catch up with the stored webhooks"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("kind", DATABASES)
async def test_kill_9_under_webhook_load_loses_nothing_and_applies_nothing_twice(kind: str, tmp_path: Path) -> None:
    async with database_url(kind, tmp_path) as url:
        server = Restartable(server_env(url), tmp_path)
        await server.start()
        phones = [new_phone().lstrip("+") for _ in range(POSTERS)]
        acked: set[str] = set()
        stop = asyncio.Event()
        posters = [asyncio.create_task(post_until_refused(server.url, p, acked, stop)) for p in phones]
        deadline = time.monotonic() + 60
        while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        server.kill()  # mid-load: requests are in flight, bodies half-applied
        stop.set()
        await asyncio.gather(*posters)
        assert len(acked) >= KILL_AFTER_ACKS, "the server acknowledged too few webhooks before the kill"

        db = Database(url)
        await db.connect()
        left = await db.fetch_val("SELECT COUNT(*) FROM webhook_events WHERE applied = 0")
        await db.disconnect()
        print(f"{kind}: {len(acked)} messages acknowledged before kill -9; {left} stored bodies not yet applied")

        await server.start()  # the same database: it catches up on what it stored
        try:
            db = Database(url)
            await db.connect()
            try:
                await wait_until_applied(db)
                rows = await db.fetch_all(
                    "SELECT m.id, m.wamid, m.conversation_id FROM messages m WHERE m.direction = 'inbound'"
                )
                stored = [r["wamid"] for r in rows]
                missing = acked - set(stored)
                assert not missing, f"{len(missing)} acknowledged messages were lost, e.g. {sorted(missing)[:3]}"
                assert len(stored) == len(set(stored))
                created: dict[int, int] = {}
                for e in await db.fetch_all("SELECT data FROM events WHERE type = 'message.created'"):
                    message_id = json.loads(e["data"])["id"]
                    created[message_id] = created.get(message_id, 0) + 1
                twice = {m: n for m, n in created.items() if n != 1}
                assert not twice, f"messages announced more than once: {twice}"
                assert {r["id"] for r in rows} <= set(created), "a stored message was never announced"
                per_conversation: dict[int, int] = {}
                for r in rows:
                    per_conversation[r["conversation_id"]] = per_conversation.get(r["conversation_id"], 0) + 1
                counts = await db.fetch_all("SELECT id, inbound_count, unread_count FROM conversations")
                assert len(counts) == POSTERS
                for c in counts:
                    assert c["inbound_count"] == per_conversation[c["id"]], c
                    assert c["unread_count"] == per_conversation[c["id"]], c
            finally:
                await db.disconnect()
        finally:
            await server.stop()
