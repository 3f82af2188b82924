"""The typing indicator through the API (issue 11): the exact Graph request on the customer's
newest message, and the refusals (closed window, nobody wrote, not yours, Meta's answer)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.servers import PHONE_NUMBER_ID, Stack, database_url, new_phone, stack
from tests.test_sending import account, customer_conversation

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_typing_shows_on_the_newest_customer_message(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "Is the bread ready?")
    newest = await inbox.customer_writes(conv["phoneNumber"].lstrip("+"), "And the cake?")
    before = len(await inbox.meta_requests())

    r = await agent.post(f"/api/conversations/{conv['id']}/typing")
    assert r.status_code == 200, r.text
    [message] = [m for m in await agent.messages(conv["id"]) if m["wamid"] == newest]
    assert r.json() == {"ok": True, "messageId": message["id"]}
    [call] = (await inbox.meta_requests())[before:]
    assert call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": newest,
        "typing_indicator": {"type": "text"},
    }
    assert inbox.meta.typing == [newest] and newest in inbox.meta.marked_read


async def test_typing_is_refused_when_no_reply_can_follow(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent, other = await account(inbox), await account(inbox)
    closed = await customer_conversation(inbox, agent, "old", timestamp=int(time.time() - 25 * 3600))
    r = await agent.send(phoneNumber=new_phone(), content="Hello from the bakery")
    assert r.status_code == 201
    silent = r.json()["conversationId"]
    mine = await customer_conversation(inbox, agent, "hi")
    before = len(await inbox.meta_requests())

    r = await agent.post(f"/api/conversations/{closed['id']}/typing")
    assert r.status_code == 422 and r.json()["code"] == "window_closed", r.text
    r = await agent.post(f"/api/conversations/{silent}/typing")
    assert r.status_code == 409 and r.json()["code"] == "no_customer_message", r.text
    r = await other.post(f"/api/conversations/{mine['id']}/typing")
    assert r.status_code == 404 and r.json()["code"] == "conversation_not_found"
    assert (await inbox.meta_requests())[before:] == []  # Meta was never asked


async def test_typing_reports_whatsapps_refusal(meta_reset: Stack) -> None:
    """A message Meta does not know (here: delivered by a hand-made webhook) is refused with
    131009, and the agent's request says so instead of pretending."""
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "hi")
    value = inbox.meta.inbound_value({"from": conv["phoneNumber"].lstrip("+"), "text": "from elsewhere"})
    unknown = "wamid.unknown" + str(time.time_ns())
    value["messages"][0]["id"] = unknown
    inbox.meta.known_wamids.discard(value["messages"][0]["id"])
    await inbox.meta_post("/simulate/webhook", value)

    r = await agent.post(f"/api/conversations/{conv['id']}/typing")
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "whatsapp_refused" and "Parameter value is not valid" in r.json()["error"]
    assert inbox.meta.typing == []


async def test_no_typing_indicator_when_the_business_gives_no_blue_ticks(tmp_path: Any) -> None:
    """It marks the customer's message read: with READ_RECEIPTS=never it is refused (409)."""
    async with database_url("sqlite", tmp_path) as url, stack(url, read_receipts="never") as inbox:
        agent = await account(inbox)
        conv = await customer_conversation(inbox, agent, "hello")
        before = len(await inbox.meta_requests())
        r = await agent.post(f"/api/conversations/{conv['id']}/typing")
        assert r.status_code == 409 and r.json()["code"] == "typing_off", r.text
        assert (await inbox.meta_requests())[before:] == [] and inbox.meta.typing == []
