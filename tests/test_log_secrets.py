"""No token, password or app secret in any log line: a real server process, at debug level (the
most it ever writes), through a whole session: logins of both kinds, websockets signed in every
way (the dashboard's cookie, a header, a first message, an old script's `?token=`), a customer's
signed webhook, a reply sent to the Meta stand-in and its statuses, a logout. Then its whole
stdout and stderr are searched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from server.fake_meta import FakeMeta
from tests.processes import cli, server_env, server_process
from tests.servers import ACCESS_TOKEN, APP_SECRET, PASSWORD, PHONE_NUMBER_ID, database_url, free_port, new_phone, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = {"X-Inbox-CSRF": "1"}


async def until(ws: ClientConnection, check: Any, timeout: float = 15) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if check(event):
                return event

    return await asyncio.wait_for(wait(), timeout)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_no_secret_in_any_log_line(kind: str, tmp_path: Any) -> None:
    async with database_url(kind, tmp_path) as db_url:
        meta_port = free_port()
        env = server_env(
            db_url,
            WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
            WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            WHATSAPP_API_BASE=f"http://127.0.0.1:{meta_port}/v21.0",
            DEFAULT_REGION="TZ",
        )
        done = cli(env, tmp_path, "create-user", "boss@example.com", "--password", PASSWORD, "--admin")
        assert done.returncode == 0, done.stderr
        async with server_process(env, tmp_path, log_level="debug") as server:
            meta = FakeMeta(
                f"{server.url}/webhook", APP_SECRET, access_token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID
            )
            config = uvicorn.Config(meta.app, host="127.0.0.1", port=meta_port, ws="none", log_level="warning")
            async with serve(config, uvicorn.Server), httpx.AsyncClient(timeout=20) as http:
                login = {"email": "boss@example.com", "password": PASSWORD}
                r = await http.post(f"{server.url}/api/auth/login", json={**login, "cookie": True}, headers=CSRF)
                assert r.status_code == 200, r.text
                session = r.cookies["inbox_session"]
                cookie = {"Cookie": f"inbox_session={session}"}
                r = await http.post(f"{server.url}/api/auth/login", json=login)
                bearer = r.json()["token"]
                script = cli(env, tmp_path, "create-token", "boss@example.com").stdout.strip()
                ws = server.url.replace("http://", "ws://") + "/ws"
                async with (
                    connect(ws, additional_headers={**cookie, "Origin": server.url}) as dashboard,
                    connect(ws, additional_headers={"Authorization": f"Bearer {bearer}"}) as by_header,
                    connect(ws) as by_message,
                    connect(f"{ws}?token={script}") as old_script,
                ):
                    await by_message.send(json.dumps({"type": "auth", "token": bearer}))
                    await asyncio.sleep(0.3)
                    phone = new_phone()
                    r = await http.post(
                        f"http://127.0.0.1:{meta_port}/simulate/inbound",
                        json={"from": phone.lstrip("+"), "name": "Asha", "text": "habari"},
                    )
                    assert r.json()["webhookStatus"] == 200, r.text
                    created = await until(dashboard, lambda e: e["type"] == "message.created")
                    for other in (by_header, by_message, old_script):
                        await until(other, lambda e: e["type"] == "message.created")
                    r = await http.post(
                        f"{server.url}/api/conversations/send",
                        json={"conversationId": created["conversationId"], "content": "karibu"},
                        headers={**cookie, **CSRF},
                    )
                    assert r.status_code == 201, r.text
                    await until(
                        dashboard,
                        lambda e: e["type"] == "message.updated" and e["data"]["status"] in ("delivered", "read"),
                    )
                    r = await http.get(f"{server.url}/api/conversations?token={script}", headers=cookie)
                    assert r.status_code == 200
                    r = await http.post(f"{server.url}/api/auth/logout", headers={**cookie, **CSRF})
                    assert r.status_code == 200
        output = server.output()
    # What the test did shows in the log (so it would show a token too) ...
    assert '"WebSocket /ws' in output and "method=POST path=/api/conversations/send status=201" in output, output
    assert "token=[redacted]" in output
    # ... and no secret does.
    for name, secret in {
        "session cookie": session,
        "bearer token": bearer,
        "script token": script,
        "password": PASSWORD,
        "app secret": APP_SECRET,
        "Meta access token": ACCESS_TOKEN,
    }.items():
        assert len(secret) >= 8
        lines = [line for line in output.splitlines() if secret in line]
        assert not lines, f"the {name} is in the log: {lines[:3]}"
