"""What Meta sends besides new messages (issue 16, point 4): edits and deletions, Flow
answers, a customer's new number or user id, customers known only by user id, bodies we
deliberately ignore, and account errors delivered twice."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from server.auth import new_token
from tests.meta_payloads import message_value
from tests.meta_payloads import msg as entry
from tests.servers import PHONE_NUMBER_ID, Agent, Stack, account, eventually, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def admin_of(inbox: Stack) -> Agent:
    return await account(inbox, admin=True)


async def post(inbox: Stack, body: dict[str, Any]) -> None:
    r = await inbox.meta_post("/simulate/webhook", body)
    assert r["webhookStatus"] == 200, r


async def thread(agent: Agent, phone: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    conv = await agent.conversation_with(phone)
    assert conv is not None
    return conv, await agent.messages(conv["id"])


async def test_an_edit_changes_the_message_and_a_revoke_deletes_it(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    first = await inbox.customer_writes(phone.lstrip("+"), "See you at 5")
    second = await inbox.customer_writes(phone.lstrip("+"), "my PIN is 1234")
    edit = {"original_message_id": first, "message": {"type": "text", "text": {"body": "See you at 6"}}}
    await post(inbox, message_value([entry(phone, "edit", edit)]))
    await post(inbox, message_value([entry(phone, "revoke", {"original_message_id": second})]))
    conv, msgs = await thread(admin, phone)
    assert [(m["content"], m["type"]) for m in msgs] == [("See you at 6", "text"), ("", "text")]
    assert msgs[0]["data"]["edited"] is True and msgs[1]["data"]["deleted"] is True
    assert conv["lastMessage"]["content"] == ""  # the deleted text is gone from the list too
    assert conv["lastMessage"]["deleted"] is True  # and the list says it was deleted
    assert await admin.conversations(search="PIN is 1234") == []


async def test_a_flow_reply_shows_its_answers(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    answers = {"flow_token": "AQAAAA.", "delivery_rating": "4", "comment_text": "Fast, thanks", "extras": ["a", "b"]}
    reply = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(answers)}}
    await post(inbox, message_value([entry(phone, "interactive", reply)], [{"wa_id": phone.lstrip("+")}]))
    _, [msg] = await thread(admin, phone)
    assert msg["content"] == "Delivery rating: 4\nComment text: Fast, thanks\nExtras: a, b"
    assert msg["data"]["answers"]["Delivery rating"] == "4" and "flow_token" not in msg["content"]


async def test_a_new_number_moves_the_conversation_and_replies_follow(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    old, new = new_phone(), new_phone()
    await inbox.customer_writes(old.lstrip("+"), "hello from my old phone")
    conv, _ = await thread(admin, old)
    system = {"body": f"User A changed from {old[1:]} to {new[1:]}", "wa_id": new[1:], "type": "user_changed_number"}
    await post(inbox, message_value([entry(old, "system", system)]))
    moved, msgs = await thread(admin, new)
    assert moved["id"] == conv["id"] and await admin.conversation_with(old) is None
    assert [m["type"] for m in msgs] == ["text", "system"]
    r = await admin.send(conversationId=conv["id"], content="got your new number")
    assert r.status_code == 201, r.text
    sent = [q["json"]["to"] for q in await inbox.meta_requests() if q["json"] and q["json"].get("type") == "text"]
    assert sent == [new.lstrip("+")]


async def test_customers_known_only_by_user_id(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    old_id, new_id = f"TZ.{uuid.uuid4().int % 10**18}", f"TZ.{uuid.uuid4().int % 10**18}"
    r = await inbox.meta_post("/simulate/inbound", {"userId": old_id, "name": "Username only", "text": "hi, no number"})
    assert r["webhookStatus"] == 200
    convs = [c for c in await admin.conversations(search="Username only") if c["waUserId"] == old_id]
    assert len(convs) == 1
    conv = convs[0]

    # Meta's user_changed_user_id event carries no number: it renames, never adds a conversation.
    change = {"type": "user_changed_user_id", "previous_user_id": old_id, "user_id": new_id}
    await post(inbox, message_value([entry(None, "system", change)]))
    nobody = {"type": "user_changed_user_id", "previous_user_id": "XX.nobody", "user_id": "XX.somebody"}
    await post(inbox, message_value([entry(None, "system", nobody)]))
    convs = [c for c in await admin.conversations(limit=500) if c["waUserId"] in (old_id, new_id)]
    assert [(c["id"], c["waUserId"]) for c in convs] == [(conv["id"], new_id)]
    assert [c for c in await admin.conversations(limit=500) if not c["phoneNumber"] and not c["waUserId"]] == []

    # Answered by user id (Meta's `recipient`).
    r2 = await admin.send(conversationId=conv["id"], content="we can answer you")
    assert r2.status_code == 201, r2.text
    [call] = [q for q in await inbox.meta_requests() if q["json"] and q["json"].get("type") == "text"]
    assert call["json"]["recipient"] == new_id and "to" not in call["json"]

    # The customer later writes with number and user id: the user-id thread joins the number's.
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "number first")
    await inbox.meta_post("/simulate/inbound", {"from": phone.lstrip("+"), "userId": new_id, "text": "both now"})
    joined, msgs = await thread(admin, phone)
    # Every message once, in the order it arrived.
    assert [m["content"] for m in msgs] == [
        "hi, no number",
        "The customer's WhatsApp user id changed",
        "we can answer you",
        "number first",
        "both now",
    ]
    assert joined["waUserId"] == new_id
    r3 = await admin.get(f"/api/conversations/{conv['id']}")
    assert r3.status_code == 404


async def processed(inbox: Stack, marker: str) -> Any:
    row = await inbox.app.state.db.fetch_one(
        "SELECT processed, error FROM webhook_events WHERE body LIKE :m ORDER BY id DESC LIMIT 1", m=f"%{marker}%"
    )
    return row


async def test_bodies_deliberately_ignored_are_handled(inbox: Stack) -> None:
    marker = uuid.uuid4().hex
    played = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [{"id": f"wamid.{marker}", "status": "played", "timestamp": "1", "recipient_id": "255700000000"}],
    }
    await post(inbox, played)
    other_field = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "message_template_status_update", "value": {"event": marker}}]}],
    }
    await post(inbox, other_field)
    for _ in range(2):
        row = await eventually(lambda: processed(inbox, marker))
        assert row is not None and row["processed"] == 1 and not row["error"], row
    r = await (await admin_of(inbox)).get("/api/webhooks/failures")
    assert not [f for f in r.json() if marker in json.dumps(f)]


async def test_an_account_error_delivered_twice_is_listed_once(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    detail = f"Message failed to send because of a restriction {uuid.uuid4().hex}"
    errors = [{"code": 131031, "title": "Business Account locked", "error_data": {"details": detail}}]
    body = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "errors": errors,
    }
    await post(inbox, body)
    await post(inbox, body)

    async def listed() -> list[dict[str, Any]]:
        return [e for e in (await admin.get("/api/errors")).json() if e["detail"] == detail]

    assert len(await eventually(listed)) == 1
    assert len(await listed()) == 1


async def test_an_admin_merges_two_conversations_of_one_person(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone, user_id = new_phone(), f"TZ.{uuid.uuid4().int % 10**18}"
    await inbox.customer_writes(phone.lstrip("+"), "one", timestamp=int(time.time()) - 30)
    r = await inbox.meta_post("/simulate/inbound", {"userId": user_id, "name": "Same person", "text": "two"})
    assert r["webhookStatus"] == 200
    await inbox.customer_writes(phone.lstrip("+"), "three")
    by_number = await admin.conversation_with(phone)
    [by_id] = [c for c in await admin.conversations(limit=500) if c["waUserId"] == user_id]
    assert by_number is not None and by_number["id"] != by_id["id"]

    agent_email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    agent_id = await inbox.app.state.store.create_user(agent_email, "no password", False)
    token, hashed = new_token()
    await inbox.app.state.store.add_token(agent_id, hashed)
    agent = Agent(inbox, agent_id, agent_email, token)
    r2 = await agent.post(f"/api/conversations/{by_number['id']}/merge", {"conversationId": by_id["id"]})
    assert r2.status_code in (403, 404)
    for body in ({}, {"conversationId": "x"}, {"conversationId": by_number["id"]}):
        r2 = await admin.post(f"/api/conversations/{by_number['id']}/merge", body)
        assert r2.status_code == 422 and r2.json()["error"], body

    # The folded thread has a label and the admin's read position: both follow it.
    label = f"vip-{uuid.uuid4().hex[:6]}"
    assert (await admin.post("/api/labels", {"name": label})).status_code == 201
    r2 = await inbox.http.put(
        f"{inbox.base_url}/api/conversations/{by_id['id']}/labels", json={"labels": [label]}, headers=admin.headers
    )
    assert r2.status_code == 200, r2.text
    assert (await admin.post(f"/api/conversations/{by_id['id']}/read")).status_code == 200

    r2 = await admin.post(f"/api/conversations/{by_number['id']}/merge", {"conversationId": by_id["id"]})
    assert r2.status_code == 200, r2.text
    assert label in r2.json()["labels"]
    assert [c["id"] for c in await admin.conversations(label=label)] == [by_number["id"]]
    assert r2.json()["waUserId"] == user_id and r2.json()["phoneNumber"] == phone
    msgs = await admin.messages(by_number["id"])
    assert [m["content"] for m in msgs if m["direction"] == "inbound"] == ["one", "two", "three"]
    [line] = [m for m in msgs if m["type"] == "activity" and "merged" in m["content"]]
    assert admin.email in line["content"]
    assert (await admin.get(f"/api/conversations/{by_id['id']}")).status_code == 404

    phone2 = new_phone()
    await inbox.customer_writes(phone2.lstrip("+"), "someone else")
    c2 = await admin.conversation_with(phone2)
    assert c2 is not None
    r2 = await admin.post(f"/api/conversations/{by_number['id']}/merge", {"conversationId": c2["id"]})
    assert r2.status_code == 409 and "different phone numbers" in r2.json()["error"]
