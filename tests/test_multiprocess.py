"""Several server processes behind one database share live events through Redis or
PostgreSQL: a webhook taken by one process reaches dashboards connected to another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from server.signature import sign
from tests.conftest import DATABASES
from tests.servers import APP_SECRET, REDIS_URL, database_url, free_port, new_phone

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif("postgresql" not in DATABASES, reason="needs PostgreSQL (TEST_DATABASES leaves it out)"),
]


def _env(db_url: str, broadcast_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "BROADCAST_URL": broadcast_url,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
    }


@contextlib.asynccontextmanager
async def server_process(env: dict[str, str], cwd: Any) -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _cli(env: dict[str, str], cwd: Any, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def webhook_body(phone: str, text: str, wamid: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Multi"}, "wa_id": phone}],
        "messages": [
            {"from": phone, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
        ],
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "w", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


@pytest.mark.parametrize("broadcast", ["redis", "postgresql"])
async def test_webhook_on_one_process_reaches_client_on_another(broadcast: str, tmp_path: Any) -> None:
    async with database_url("postgresql", tmp_path) as db_url:
        env = _env(db_url, REDIS_URL if broadcast == "redis" else db_url)
        _cli(env, tmp_path, "create-user", "ops@example.com", "--password", "long enough pw", "--admin")
        token = _cli(env, tmp_path, "create-token", "ops@example.com")
        async with server_process(env, tmp_path) as one, server_process(env, tmp_path) as two:
            async with (
                connect(two.replace("http", "ws") + f"/ws?token={token}") as ws_two,
                connect(one.replace("http", "ws") + f"/ws?token={token}") as ws_one,
                httpx.AsyncClient() as http,
            ):
                phone = new_phone().lstrip("+")
                # Webhooks land on both processes, concurrently.
                bodies = [webhook_body(phone, f"msg {i}", f"wamid.multi.{broadcast}.{i}") for i in range(20)]
                responses = await asyncio.gather(
                    *(
                        http.post(
                            f"{(one, two)[i % 2]}/webhook",
                            content=body,
                            headers={"X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"},
                        )
                        for i, body in enumerate(bodies)
                    )
                )
                assert [r.status_code for r in responses] == [200] * 20

                async def created(ws: Any) -> list[dict[str, Any]]:
                    events: list[dict[str, Any]] = []
                    while sum(e["type"] == "message.created" for e in events) < 20:
                        events.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
                    return events

                for events in (await created(ws_two), await created(ws_one)):
                    ids = [e["id"] for e in events]
                    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
                    texts = sorted(e["data"]["content"] for e in events if e["type"] == "message.created")
                    assert texts == sorted(f"msg {i}" for i in range(20))
