"""The whole loop a user sees: a customer writes, the agent answers, ticks go to read."""

from __future__ import annotations

import pytest

from tests.servers import Stack, eventually, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_inbound_list_reply_and_ticks_to_read(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await inbox.user()
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Asha", "phoneNumber": phone})
    assert r.status_code == 201, r.text

    await inbox.customer_writes(phone.lstrip("+"), "Habari, is my order ready?", name="Asha M.")

    conv = await agent.conversation_with(phone)
    assert conv is not None
    assert conv["ownerId"] == agent.id
    assert conv["contactName"] == "Asha" and conv["profileName"] == "Asha M."
    assert conv["unreadCount"] == 1
    assert conv["lastMessage"]["content"] == "Habari, is my order ready?"
    assert conv["windowOpenUntil"] is not None

    [msg] = await agent.messages(conv["id"])
    assert msg["direction"] == "inbound" and msg["type"] == "text"

    r = await agent.post(f"/api/conversations/{conv['id']}/read")
    assert r.status_code == 200 and r.json()["unreadCount"] == 0
    reads = [q for q in await inbox.meta_requests() if q["json"].get("status") == "read"]
    assert reads and reads[-1]["json"]["message_id"] == msg["wamid"]

    r = await agent.send(phoneNumber=phone, content="Yes, ready for pickup.")
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["direction"] == "outbound" and sent["content"] == "Yes, ready for pickup."
    assert sent["wamid"]

    async def read_tick():
        items = await agent.messages(conv["id"], after=msg["id"])
        return items if items and items[-1]["status"] == "read" else None

    items = await eventually(read_tick)
    assert items, "the reply never reached read"
    reply = items[-1]
    assert reply["sentAt"] and reply["deliveredAt"] and reply["readAt"]
    conv = await agent.conversation_with(phone)
    assert conv["lastMessage"]["status"] == "read"
