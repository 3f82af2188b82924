"""Replies are delivered in the background and never left with a clock: the agent's request
does not wait for an unreachable Graph API, a send WhatsApp did not confirm says it may have
reached the customer, a graceful shutdown finishes sends in flight, and a reply caught by
kill -9 is resolved after the restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DATABASES
from tests.restarts import Restartable, cli, server_env
from tests.servers import Agent, Stack, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[str]:
    """A Graph API that takes the request and never answers; yields its base URL."""
    release = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read(65536)
            await release.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v21.0"
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def reply(agent: Agent, conversation_id: int, message_id: int) -> dict[str, Any]:
    [m] = [m for m in await agent.messages(conversation_id, limit=500) if m["id"] == message_id]
    return m


async def settled(agent: Agent, message: dict[str, Any], timeout: float = 15) -> dict[str, Any]:
    async def check() -> Any:
        m = await reply(agent, message["conversationId"], message["id"])
        return m if m["status"] != "pending" else None

    return await eventually(check, timeout=timeout) or await reply(agent, message["conversationId"], message["id"])


@pytest.mark.parametrize("kind", DATABASES)
async def test_send_and_read_answer_while_the_graph_api_hangs(kind: str, tmp_path: Any) -> None:
    async with black_hole() as graph, database_url(kind, tmp_path) as url:
        async with stack(url, whatsapp_api_base=graph, send_timeout=3.0, send_wait=0.2) as s:
            agent = await s.user(admin=True)
            phone = new_phone()
            await s.customer_writes(phone.lstrip("+"), "are you there?")
            conv = await agent.conversation_with(phone)
            assert conv is not None
            since = (await agent.get("/api/events")).json()["lastId"]

            r = await agent.post(f"/api/conversations/{conv['id']}/read")
            assert r.status_code == 200 and r.json()["unreadCount"] == 0
            r = await agent.send(conversationId=conv["id"], content="into the void")
            assert r.status_code == 201, r.text
            message = r.json()
            assert message["status"] == "pending" and message["wamid"] is None

            # The outcome arrives later, as an event, and says what the agent must know.
            final = await settled(agent, message)
            assert final["status"] == "failed" and final["error"]["uncertain"] is True
            assert "may not have been sent" in final["error"]["message"]
            assert "check before resending" in final["error"]["message"]
            events = (await agent.get("/api/events", since=since)).json()["events"]
            updates = [e for e in events if e["type"] == "message.updated" and e["data"]["id"] == message["id"]]
            assert updates and updates[-1]["data"]["status"] == "failed"


@pytest.mark.parametrize("answer", ["not-json", "no-wamid"])
async def test_an_answer_without_a_wamid_may_have_reached_the_customer(meta_reset: Stack, answer: str) -> None:
    inbox = meta_reset
    agent = await inbox.user()
    await inbox.meta_post("/simulate/config", {"sendAnswer": answer})
    try:
        r = await agent.send(phoneNumber=new_phone(), content=f"answer {answer}")
        assert r.status_code == 201, r.text
        final = await settled(agent, r.json())
    finally:
        await inbox.meta_post("/simulate/reset", {})
    assert final["status"] == "failed"
    assert final["error"]["uncertain"] is True
    assert "refused" not in final["error"]["message"]
    assert "may not have been sent" in final["error"]["message"]


@pytest.mark.parametrize("kind", DATABASES)
async def test_graceful_shutdown_finishes_sends_in_flight(kind: str, tmp_path: Any) -> None:
    async with database_url(kind, tmp_path) as url:
        async with stack(url, send_wait=0.1) as s:
            agent = await s.user()
            # Longer than uvicorn's grace for open connections: only the outbox's own wait helps.
            await s.meta_post("/simulate/config", {"sendDelay": 6})
            r = await agent.send(phoneNumber=new_phone(), content="sent while stopping")
            assert r.status_code == 201 and r.json()["status"] == "pending"
            message, token = r.json(), agent.token
        async with stack(url) as restarted:
            again = Agent(restarted, agent.id, agent.email, token)
            m = await reply(again, message["conversationId"], message["id"])
            assert m["wamid"] and m["status"] != "failed", m


@pytest.mark.parametrize("kind", DATABASES)
async def test_reply_caught_by_kill_9_is_resolved_after_restart(kind: str, tmp_path: Path) -> None:
    async with black_hole() as graph, database_url(kind, tmp_path) as url:
        env = server_env(url, whatsapp_api_base=graph, send_timeout="60", send_wait="0.2")
        cli(env, tmp_path, "create-user", "crash@example.com", "--password", "long enough pw", "--admin")
        token = cli(env, tmp_path, "create-token", "crash@example.com")
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
        body = {"phoneNumber": new_phone(), "content": "caught by the crash"}
        first = Restartable(env, tmp_path)
        async with httpx.AsyncClient(timeout=10) as http:
            await first.start()
            r = await http.post(f"{first.url}/api/conversations/send", json=body, headers=headers)
            assert r.status_code == 201 and r.json()["status"] == "pending", r.text
            message = r.json()
            first.kill()

            async with Restartable(env, tmp_path) as second:
                path = f"{second.url}/api/conversations/{message['conversationId']}/messages"

                async def resolved() -> Any:
                    [m] = [m for m in (await http.get(path, headers=headers)).json() if m["id"] == message["id"]]
                    return m if m["status"] != "pending" else None

                m = await eventually(resolved, timeout=30, interval=0.2)
                assert m, "the reply is still pending after the restart"
                assert m["status"] == "failed" and m["error"]["uncertain"] is True
                assert "check before resending" in m["error"]["message"]
                # Retrying the request with the same Idempotency-Key shows that state, sends nothing.
                r = await http.post(f"{second.url}/api/conversations/send", json=body, headers=headers)
                assert r.status_code == 201 and r.json()["id"] == message["id"]
                assert r.json()["status"] == "failed" and r.json()["error"]["uncertain"] is True
