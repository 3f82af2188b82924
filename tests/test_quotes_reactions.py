"""Quote-replies and reactions through the API (issue 11): the exact Graph request bodies the
stand-in receives, what is stored and shown (also live), and every refusal; on SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.servers import PHONE_NUMBER_ID, Agent, Stack, eventually
from tests.test_sending import account, customer_conversation, final_status

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def message_with(agent: Agent, conversation_id: int, wamid: str) -> dict[str, Any]:
    [message] = [m for m in await agent.messages(conversation_id) if m["wamid"] == wamid]
    return message


async def new_requests(inbox: Stack, before: int) -> list[dict[str, Any]]:
    return (await inbox.meta_requests())[before:]


async def test_a_reply_quotes_the_customers_message(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "Two loaves and a cake, please")
    asked = (await agent.messages(conv["id"]))[-1]
    before = len(await inbox.meta_requests())

    r = await agent.send(conversationId=conv["id"], content="The cake is chocolate?", replyTo=asked["id"])
    assert r.status_code == 201, r.text
    reply = r.json()
    assert reply["replyTo"] == {
        "id": asked["id"],
        "wamid": asked["wamid"],
        "type": "text",
        "content": "Two loaves and a cake, please",
        "direction": "inbound",
    }
    [call] = await new_requests(inbox, before)
    assert call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": conv["phoneNumber"].lstrip("+"),
        "type": "text",
        "text": {"body": "The cake is chocolate?", "preview_url": False},
        "context": {"message_id": asked["wamid"]},
    }
    [stored] = [m for m in await agent.messages(conv["id"]) if m["id"] == reply["id"]]
    assert stored["replyTo"]["id"] == asked["id"]

    # The customer quotes our reply back (inbound `context`): shown with what it quotes.
    assert await final_status(agent, conv["id"], reply["id"]) != "failed"
    [stored] = [m for m in await agent.messages(conv["id"]) if m["id"] == reply["id"]]
    reply_wamid = stored["wamid"]
    answer = await inbox.customer_writes(
        conv["phoneNumber"].lstrip("+"), "Yes, chocolate!", context={"from": "15550001111", "id": reply_wamid}
    )
    quoted = (await message_with(agent, conv["id"], answer))["replyTo"]
    assert quoted["id"] == reply["id"] and quoted["direction"] == "outbound"
    assert quoted["content"] == "The cake is chocolate?"


async def test_any_kind_of_reply_may_quote(meta_reset: Stack) -> None:
    """A file quotes like a text (so do templates, locations, …: one way out, server/outbox.py):
    context.message_id on its Graph request."""
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "Can you send the receipt?")
    asked = (await agent.messages(conv["id"]))[-1]
    before = len(await inbox.meta_requests())
    r = await agent.post(
        "/api/conversations/send",
        data={"conversationId": str(conv["id"]), "replyTo": str(asked["id"]), "caption": "Here it is"},
        files={"file": ("receipt.txt", b"Two loaves: 4,000 TSh", "text/plain")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["replyTo"]["id"] == asked["id"] and r.json()["type"] == "document"
    [sent] = [q["json"] for q in await new_requests(inbox, before)]
    assert sent["type"] == "document" and sent["context"] == {"message_id": asked["wamid"]}
    assert sent["document"]["filename"] == "receipt.txt" and sent["document"]["caption"] == "Here it is"


async def test_a_quote_must_be_a_sent_message_of_the_same_conversation(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "hello")
    other = await customer_conversation(inbox, agent, "someone else")
    elsewhere = (await agent.messages(other["id"]))[-1]
    r = await agent.post(f"/api/conversations/{conv['id']}/notes", {"content": "internal"})
    assert r.status_code == 201
    note = r.json()
    count = len(await agent.messages(conv["id"]))
    before = len(await inbox.meta_requests())

    for reply_to, code in (
        (elsewhere["id"], "invalid_reply_to"),
        (999_999_999, "invalid_reply_to"),
        ("first", "invalid_reply_to"),
        (note["id"], "reply_to_not_sent"),
    ):
        r = await agent.send(conversationId=conv["id"], content="quoted", replyTo=reply_to)
        assert r.status_code == 422 and r.json()["code"] == code, (reply_to, r.text)
    r = await agent.post(
        "/api/conversations/send",
        data={"conversationId": str(conv["id"]), "replyTo": str(elsewhere["id"])},
        files={"file": ("receipt.txt", b"Two loaves", "text/plain")},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_reply_to", r.text
    assert len(await agent.messages(conv["id"])) == count  # nothing stored
    assert await new_requests(inbox, before) == []  # nothing sent


async def test_reactions_are_sent_shown_live_changed_and_removed(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent, other = await account(inbox), await account(inbox)
    conv = await customer_conversation(inbox, agent, "The bread was lovely")
    target = (await agent.messages(conv["id"]))[-1]
    to = conv["phoneNumber"].lstrip("+")
    path = f"/api/conversations/{conv['id']}/messages/{target['id']}/reaction"
    since = (await agent.get("/api/events")).json()["lastId"]
    before = len(await inbox.meta_requests())

    r = await agent.post(path, {"emoji": "👍"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == target["id"] and r.json()["reactions"] == [{"emoji": "👍", "direction": "outbound"}]
    [call] = await new_requests(inbox, before)
    assert call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "reaction",
        "reaction": {"message_id": target["wamid"], "emoji": "👍"},
    }
    events = (await agent.get("/api/events", since=since)).json()["events"]
    updated = [e["data"] for e in events if e["type"] == "message.updated" and e["data"]["id"] == target["id"]]
    assert updated and updated[-1]["reactions"] == [{"emoji": "👍", "direction": "outbound"}]

    # One reaction per business: a new emoji replaces it; the customer's own stays beside it.
    await inbox.meta_post(
        "/simulate/inbound",
        {"from": to, "type": "reaction", "reaction": {"message_id": target["wamid"], "emoji": "🙏"}},
    )
    r = await agent.post(path, {"emoji": "❤️"})
    assert r.status_code == 200, r.text
    shown = (await message_with(agent, conv["id"], target["wamid"]))["reactions"]
    assert sorted(x["emoji"] for x in shown) == sorted(["🙏", "❤️"])
    assert {"emoji": "❤️", "direction": "outbound"} in shown

    # "" removes ours (Meta is told with an empty emoji).
    before = len(await inbox.meta_requests())
    r = await agent.post(path, {"emoji": ""})
    assert r.status_code == 200 and r.json()["reactions"] == [{"emoji": "🙏", "direction": "inbound"}]
    [call] = await new_requests(inbox, before)
    assert call["json"]["reaction"] == {"message_id": target["wamid"], "emoji": ""}
    # Meta's `sent` status for a reaction is no message of ours: once applied, nothing waits for it.
    removal = await inbox.app.state.db.fetch_val(
        "SELECT wamid FROM reactions WHERE message_wamid = :w AND direction = 'outbound'", w=target["wamid"]
    )
    assert await eventually(lambda: _status_applied(inbox, removal))
    assert not await inbox.app.state.db.fetch_all("SELECT id FROM pending_statuses WHERE wamid = :w", w=removal)

    # Reacting to our own reply works too (its wamid is what WhatsApp knows).
    r = await agent.send(conversationId=conv["id"], content="Glad you liked it")
    assert await final_status(agent, conv["id"], r.json()["id"]) != "failed"
    r = await agent.post(f"/api/conversations/{conv['id']}/messages/{r.json()['id']}/reaction", {"emoji": "😊"})
    assert r.status_code == 200 and r.json()["reactions"] == [{"emoji": "😊", "direction": "outbound"}]

    # Someone who cannot see the conversation is told it does not exist.
    r = await other.post(path, {"emoji": "👍"})
    assert r.status_code == 404 and r.json()["code"] == "conversation_not_found"


async def _status_applied(inbox: Stack, wamid: str) -> bool:
    """Whether a webhook with a status for `wamid` was received and applied."""
    rows = await inbox.app.state.db.fetch_all(
        "SELECT applied FROM webhook_events WHERE body LIKE :w", w=f'%"id":"{wamid}","status"%'
    )
    return bool(rows) and all(r["applied"] for r in rows)


async def test_reaction_refusals(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "hi")
    target = (await agent.messages(conv["id"]))[-1]
    other = await customer_conversation(inbox, agent, "elsewhere")
    elsewhere = (await agent.messages(other["id"]))[-1]
    note = (await agent.post(f"/api/conversations/{conv['id']}/notes", {"content": "internal"})).json()
    closed = await customer_conversation(inbox, agent, "old", timestamp=int(time.time() - 25 * 3600))
    old = (await agent.messages(closed["id"]))[-1]
    before = len(await inbox.meta_requests())

    def path(conversation_id: int, message_id: Any) -> str:
        return f"/api/conversations/{conversation_id}/messages/{message_id}/reaction"

    for body in ({"emoji": "ok"}, {"emoji": "👍👍"}, {"emoji": 7}, {"emoji": "👍 thanks"}):
        r = await agent.post(path(conv["id"], target["id"]), body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_emoji", (body, r.text)
    r = await agent.post(path(conv["id"], elsewhere["id"]), {"emoji": "👍"})
    assert r.status_code == 404 and r.json()["code"] == "message_not_found"
    r = await agent.post(path(conv["id"], "x"), {"emoji": "👍"})
    assert r.status_code == 404
    r = await agent.post(path(conv["id"], note["id"]), {"emoji": "👍"})
    assert r.status_code == 422 and r.json()["code"] == "not_reactable"
    r = await agent.post(path(closed["id"], old["id"]), {"emoji": "👍"})
    assert r.status_code == 422 and r.json()["code"] == "window_closed"
    assert await new_requests(inbox, before) == []

    # WhatsApp refuses at once: the agent is told why, nothing is shown.
    await inbox.meta_post("/simulate/fail", {"code": 131051})
    r = await agent.post(path(conv["id"], target["id"]), {"emoji": "👍"})
    assert r.status_code == 502 and r.json()["code"] == "whatsapp_refused"
    assert "not supported" in r.json()["error"]
    assert (await message_with(agent, conv["id"], target["wamid"]))["reactions"] == []


async def test_a_reaction_whatsapp_reports_failed_is_taken_off(meta_reset: Stack) -> None:
    """Meta accepts a reaction to a message it does not know and then reports 131009 by
    webhook: the reaction disappears again, live."""
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "hi")
    value = inbox.meta.inbound_value({"from": conv["phoneNumber"].lstrip("+"), "text": "from another app"})
    unknown = f"wamid.elsewhere{time.time_ns()}"
    value["messages"][0]["id"] = unknown
    await inbox.meta_post("/simulate/webhook", value)
    target = await message_with(agent, conv["id"], unknown)

    r = await agent.post(f"/api/conversations/{conv['id']}/messages/{target['id']}/reaction", {"emoji": "👍"})
    assert r.status_code == 200 and r.json()["reactions"] == [{"emoji": "👍", "direction": "outbound"}]

    async def gone() -> bool:
        return (await message_with(agent, conv["id"], unknown))["reactions"] == []

    assert await eventually(gone)
