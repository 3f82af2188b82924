"""The Meta stand-in on its own: real uvicorn servers on loopback, a receiver for its webhooks.

Other tests trust the stand-in to behave like Meta, so its own behaviour is pinned here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.fake_meta import FakeMeta
from server.signature import verify

SECRET = "unit-test-app-secret"
TOKEN = "unit-test-token"
PHONE_ID = "1000000001"
TO = "255712345678"

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Receiver:
    """Plays our server's webhook endpoint: records every POST and checks its signature."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/webhook", self.webhook, methods=["POST"])])

    async def webhook(self, request: Request) -> Response:
        raw = await request.body()
        valid = verify(SECRET, raw, request.headers.get("x-hub-signature-256"))
        self.received.append(
            {"raw": raw, "json": json.loads(raw), "valid": valid, "content_type": request.headers.get("content-type")}
        )
        return Response(status_code=200 if valid else 401)

    def statuses(self, wamid: str) -> list[dict[str, Any]]:
        """Status entries received for one wamid, in arrival order."""
        out = []
        for hook in self.received:
            value = hook["json"]["entry"][0]["changes"][0]["value"]
            out += [s for s in value.get("statuses", []) if s["id"] == wamid]
        return out

    async def wait_statuses(self, wamid: str, count: int, timeout: float = 3.0) -> list[dict]:
        async with asyncio.timeout(timeout):
            while len(self.statuses(wamid)) < count:
                await asyncio.sleep(0.005)
        return self.statuses(wamid)


async def _start(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", ws="none", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(5):
        while not server.started:
            await asyncio.sleep(0.01)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def _stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    server, task, port = await _start(rec.app)
    yield rec, f"http://127.0.0.1:{port}/webhook"
    await _stop(server, task)


@pytest.fixture(scope="session")
async def meta_server(receiver: tuple[Receiver, str]) -> AsyncIterator[tuple[FakeMeta, str]]:
    fake = FakeMeta(receiver[1], SECRET, access_token=TOKEN, status_delay=0.01)
    server, task, port = await _start(fake.app)
    yield fake, f"http://127.0.0.1:{port}"
    await _stop(server, task)


@pytest.fixture
async def meta(
    meta_server: tuple[FakeMeta, str], receiver: tuple[Receiver, str]
) -> AsyncIterator[tuple[FakeMeta, httpx.AsyncClient, Receiver]]:
    """A clean stand-in, an httpx client pointed at it, and an empty receiver."""
    fake, base = meta_server
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.post("/simulate/reset")).status_code == 200
        receiver[0].received.clear()
        yield fake, client, receiver[0]


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _text(to: str = TO, body: str = "hi") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


async def test_send_then_signed_sent_delivered_read(meta) -> None:
    fake, client, rec = meta
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth())
    assert r.status_code == 200
    data = r.json()
    assert data["messaging_product"] == "whatsapp"
    assert data["contacts"] == [{"input": TO, "wa_id": TO}]
    wamid = data["messages"][0]["id"]
    assert wamid.startswith("wamid.") and len(wamid) == 46
    assert data["messages"][0]["message_status"] == "accepted"

    statuses = await rec.wait_statuses(wamid, 3)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert all(s["recipient_id"] == TO and s["timestamp"].isdigit() for s in statuses)
    assert all(h["valid"] and h["content_type"] == "application/json" for h in rec.received)
    assert len(rec.received) == 3  # one webhook per status
    hook = rec.received[0]["json"]
    assert hook["object"] == "whatsapp_business_account"
    assert hook["entry"][0]["id"] == fake.waba_id
    assert hook["entry"][0]["changes"][0]["field"] == "messages"

    requests = (await client.get("/simulate/requests")).json()
    assert requests == [
        {"method": "POST", "path": f"/v21.0/{PHONE_ID}/messages", "authorization": f"Bearer {TOKEN}", "json": _text()}
    ]


async def test_unversioned_path_mark_read_and_distinct_wamids(meta) -> None:
    fake, client, rec = meta
    await client.post("/simulate/config", json={"autoRead": False, "skipDelivered": True})
    ids = set()
    for _ in range(3):
        r = await client.post(f"/{PHONE_ID}/messages", json=_text(), headers=_auth())
        ids.add(r.json()["messages"][0]["id"])
    assert len(ids) == 3
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in1"}
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=read, headers=_auth())
    assert r.json() == {"success": True}
    assert fake.marked_read == ["wamid.in1"]
    for wamid in ids:
        assert [s["status"] for s in await rec.wait_statuses(wamid, 1)] == ["sent"]


async def test_wrong_token_and_bad_body(meta) -> None:
    _, client, _ = meta
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth("nope"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 190
    assert r.json()["error"]["type"] == "OAuthException"
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json={"messaging_product": "whatsapp"}, headers=_auth())
    assert r.status_code == 400 and r.json()["error"]["code"] == 100
    assert len((await client.get("/simulate/requests")).json()) == 2


async def test_injected_failure_via_response(meta) -> None:
    _, client, rec = meta
    await client.post("/simulate/fail", json={"code": 131047, "times": 1})
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth())
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 131047 and error["message"] == "Re-engagement message"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]
    # Consumed: the next send goes through.
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth())
    assert r.status_code == 200

    await client.post("/simulate/fail", json={"code": 130429})
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth())
    assert r.status_code == 429 and r.json()["error"]["message"] == "Rate limit hit"


async def test_injected_failure_via_status(meta) -> None:
    _, client, rec = meta
    await client.post("/simulate/fail", json={"code": 131047, "via": "status", "detail": "late"})
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth())
    assert r.status_code == 200
    wamid = r.json()["messages"][0]["id"]
    [status] = await rec.wait_statuses(wamid, 1)
    assert status["status"] == "failed"
    assert "conversation" not in status and "pricing" not in status
    [err] = status["errors"]
    assert err["code"] == 131047 and err["title"] == err["message"] == "Re-engagement message"
    assert err["error_data"] == {"details": "late"}
    await asyncio.sleep(0.05)
    assert len(rec.statuses(wamid)) == 1


async def test_statuses_before_response(meta) -> None:
    _, client, rec = meta
    await client.post("/simulate/config", json={"statusesBeforeResponse": True})
    r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text(), headers=_auth())
    wamid = r.json()["messages"][0]["id"]
    assert [s["status"] for s in rec.statuses(wamid)] == ["sent"]  # already there, no waiting
    statuses = await rec.wait_statuses(wamid, 3)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]


async def test_inbound_text_envelope(meta) -> None:
    fake, client, rec = meta
    r = await client.post(
        "/simulate/inbound",
        json={"from": TO, "name": "Asha ✓", "text": "hello", "wamid": "wamid.in42", "timestamp": 1764150000},
    )
    assert r.json() == {"wamid": "wamid.in42", "webhookStatus": 200}
    [hook] = rec.received
    assert hook["valid"]
    assert b"\\u2713" in hook["raw"]  # ASCII-escaped like Meta, and signed as such
    assert hook["json"] == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": fake.waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
                            "contacts": [{"profile": {"name": "Asha ✓"}, "wa_id": TO}],
                            "messages": [
                                {
                                    "from": TO,
                                    "id": "wamid.in42",
                                    "timestamp": "1764150000",
                                    "type": "text",
                                    "text": {"body": "hello"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


async def test_inbound_media_context_user_id(meta) -> None:
    _, client, rec = meta
    image = {"id": "media1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "look"}
    r = await client.post(
        "/simulate/inbound",
        json={
            "from": "",
            "name": "Asha",
            "userId": "TZ.123",
            "type": "image",
            "image": image,
            "context": {"from": "15550001111", "id": "wamid.out1"},
        },
    )
    assert r.json()["webhookStatus"] == 200
    value = rec.received[0]["json"]["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Asha"}, "user_id": "TZ.123"}]
    message = value["messages"][0]
    assert message["from_user_id"] == "TZ.123" and "from" not in message
    assert message["type"] == "image" and message["image"] == image
    assert message["context"] == {"from": "15550001111", "id": "wamid.out1"}


async def test_simulate_status_and_raw_webhook(meta) -> None:
    _, client, rec = meta
    r = await client.post(
        "/simulate/status", json={"wamid": "wamid.x", "status": "delivered", "recipient": TO, "timestamp": 1764150000}
    )
    assert r.json() == {"webhookStatus": 200}
    [status] = rec.statuses("wamid.x")
    assert status["timestamp"] == "1764150000" and status["pricing"]["pricing_model"] == "PMP"
    r = await client.post("/simulate/webhook", json={"messaging_product": "whatsapp", "weird": True})
    assert r.json() == {"webhookStatus": 200}
    assert rec.received[-1]["json"]["entry"][0]["changes"][0]["value"]["weird"] is True


async def test_webhook_target_down_does_not_crash() -> None:
    fake = FakeMeta("http://127.0.0.1:9/webhook", SECRET, status_delay=0.01)
    server, task, port = await _start(fake.app)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r = await client.post("/simulate/inbound", json={"from": TO, "text": "x"})
            assert r.json()["webhookStatus"] == 0
            r = await client.post(f"/v21.0/{PHONE_ID}/messages", json=_text())
            assert r.status_code == 200  # no token configured: any Authorization passes
    finally:
        await _stop(server, task)  # cancels the pending status webhooks
    assert not fake._tasks
