"""Team leftovers of issue 14, on SQLite and PostgreSQL: a label an admin adds or deletes
reaches every user's dashboard live (agents included, who see no queue), and an agent who may
claim from the unassigned queue can also hand their own conversation back to it."""

from __future__ import annotations

import uuid

import pytest

from tests.servers import Stack
from tests.test_team import (
    conversation_for,
    drain,
    error_of,
    member,
    next_event,
    queue_inbox,  # noqa: F401 (fixture)
    request,
    ws,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_label_create_and_delete_reach_every_dashboard(inbox: Stack) -> None:
    admin, ana = await member(inbox, "Label Boss", admin=True), await member(inbox, "Ana")
    name = "rush" + uuid.uuid4().hex[:6]
    async with ws(ana) as ana_ws, ws(admin) as admin_ws:
        await drain(ana_ws, 0.2)
        r = await admin.post("/api/labels", {"name": name, "color": "#dc2626"})
        assert r.status_code == 201, r.text
        label = r.json()
        for sock in (admin_ws, ana_ws):
            created = await next_event(sock, "label.created", lambda e: e["data"]["name"] == name)
            assert created["data"] == label
        # Resumable like every event: /api/events has it for Ana too.
        listed = (await ana.get("/api/events", since=created["id"] - 1)).json()["events"]
        assert [e["type"] for e in listed if e["id"] == created["id"]] == ["label.created"]

        r = await request(admin, "DELETE", f"/api/labels/{label['id']}")
        assert r.status_code == 200, r.text
        deleted = await next_event(ana_ws, "label.deleted", lambda e: e["data"]["id"] == label["id"])
        assert deleted["data"] == label


async def test_agent_hands_their_conversation_back_to_the_queue(queue_inbox: Stack) -> None:
    inbox = queue_inbox
    ana, ben = await member(inbox, "Ana"), await member(inbox, "Ben")
    conv_id = await conversation_for(inbox, ana, "can someone help?")
    async with ws(ben) as ben_ws:
        await drain(ben_ws, 0.2)
        r = await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": None})
        assert r.status_code == 200 and r.json()["assigneeId"] is None, r.text
        # Ben, who sees the queue, gets it live.
        event = await next_event(ben_ws, "conversation.updated", lambda e: e["conversationId"] == conv_id)
        assert event["data"]["assigneeId"] is None
    assert conv_id in {c["id"] for c in await ben.conversations(assignee="unassigned")}
    lines = [m["content"] for m in await ana.messages(conv_id) if m["type"] == "activity"]
    assert lines == ["Ana unassigned this"]
    # Back in the queue it is anyone's to claim, but no longer Ana's to give away.
    error_of(await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": ben.id}), 403)


async def test_without_the_queue_an_agent_cannot_drop_a_conversation(inbox: Stack) -> None:
    ana = await member(inbox, "Ana")
    conv_id = await conversation_for(inbox, ana, "mine")
    assert "admins" in error_of(await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": None}), 403)
    assert (await ana.get(f"/api/conversations/{conv_id}")).json()["assigneeId"] == ana.id
