"""Retry of a failed reply (POST /api/conversations/{id}/messages/{messageId}/retry), on SQLite
and PostgreSQL: the same message (same id) goes pending -> sent again, announced by events;
only failed or "may not have been sent" replies can be retried; two retries at once send once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.servers import Agent, Stack, eventually, new_phone
from tests.test_media_browser import png
from tests.test_sending import account, customer_conversation
from tests.test_templates import template_inbox, template_stack  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def retry_path(message: dict[str, Any]) -> str:
    return f"/api/conversations/{message['conversationId']}/messages/{message['id']}/retry"


async def sends_to(inbox: Stack, phone: str) -> list[dict[str, Any]]:
    """The stand-in's send calls to one customer (not mark-reads or uploads)."""
    return [
        q
        for q in await inbox.meta_requests()
        if q["json"] and q["json"].get("to") == phone.lstrip("+") and q["json"].get("type")
    ]


async def message(agent: Agent, m: dict[str, Any]) -> dict[str, Any]:
    [found] = [x for x in await agent.messages(m["conversationId"]) if x["id"] == m["id"]]
    return found


async def failed_reply(inbox: Stack, agent: Agent, text: str = "Your order is ready") -> dict[str, Any]:
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    r = await agent.send(conversationId=conv["id"], content=text)
    assert r.status_code == 201, r.text

    async def is_failed() -> dict[str, Any] | None:
        m = await message(agent, r.json())
        return m if m["status"] == "failed" else None

    failed = await eventually(is_failed)
    assert failed, await message(agent, r.json())
    assert "could not deliver" in failed["error"]["message"]
    return failed


async def test_retry_sends_the_same_message_again(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    failed = await failed_reply(inbox, agent)
    conv = await agent.get(f"/api/conversations/{failed['conversationId']}")
    phone = conv.json()["phoneNumber"]
    since = (await agent.get("/api/events")).json()["lastId"]

    r = await agent.post(retry_path(failed))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == failed["id"] and r.json()["status"] in ("pending", "sent", "delivered", "read")
    assert r.json()["error"] is None

    async def delivered() -> dict[str, Any] | None:
        m = await message(agent, failed)
        return m if m["status"] in ("delivered", "read") else None

    done = await eventually(delivered)
    assert done and done["wamid"] and done["error"] is None, await message(agent, failed)
    # Still one message in the thread, the text sent twice to Meta (the refusal, then this).
    [reply] = [m for m in await agent.messages(failed["conversationId"]) if m["direction"] == "outbound"]
    assert reply["id"] == failed["id"]
    calls = await sends_to(inbox, phone)
    assert [c["json"]["text"]["body"] for c in calls] == ["Your order is ready"] * 2

    # The dashboard heard it live: back to pending, then sent and on.
    events = (await agent.get("/api/events", since=since)).json()["events"]
    statuses = [
        e["data"]["status"] for e in events if e["type"] == "message.updated" and e["data"]["id"] == failed["id"]
    ]
    assert statuses[0] == "pending" and "delivered" in statuses, statuses

    # Now it is sent: a second retry is refused, nothing more goes to Meta.
    r = await agent.post(retry_path(failed))
    assert r.status_code == 409 and r.json()["code"] == "not_failed", r.text
    assert len(await sends_to(inbox, phone)) == 2


async def test_two_retries_at_once_send_once(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    failed = await failed_reply(inbox, agent, "Only once, please")
    phone = (await agent.get(f"/api/conversations/{failed['conversationId']}")).json()["phoneNumber"]
    answers = await asyncio.gather(*(agent.post(retry_path(failed)) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
    assert await eventually(lambda: _status_in(agent, failed, ("sent", "delivered", "read")))
    assert [c["json"]["text"]["body"] for c in await sends_to(inbox, phone)] == ["Only once, please"] * 2


async def _status_in(agent: Agent, m: dict[str, Any], statuses: tuple[str, ...]) -> bool:
    return (await message(agent, m))["status"] in statuses


async def test_retry_of_a_reply_that_may_not_have_been_sent(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/config", {"sendAnswer": "no-wamid"})
    r = await agent.send(conversationId=conv["id"], content="Did this arrive?")
    assert r.status_code == 201, r.text
    assert await eventually(lambda: _status_in(agent, r.json(), ("failed",)))
    uncertain = await message(agent, r.json())
    assert uncertain["error"]["uncertain"] is True
    await inbox.meta_post("/simulate/reset", {})

    r = await agent.post(retry_path(uncertain))
    assert r.status_code == 200, r.text
    assert await eventually(lambda: _status_in(agent, uncertain, ("sent", "delivered", "read")))


async def test_retry_refusals(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent, other = await account(inbox), await account(inbox)
    failed = await failed_reply(inbox, agent)

    # Someone who may not see the conversation: not found, as for any of its messages.
    r = await other.post(retry_path(failed))
    assert r.status_code == 404 and r.json()["code"] == "message_not_found", r.text
    r = await agent.post(f"/api/conversations/{failed['conversationId']}/messages/999999999/retry")
    assert r.status_code == 404 and r.json()["code"] == "message_not_found", r.text
    r = await agent.post(f"/api/conversations/{failed['conversationId']}/messages/abc/retry")
    assert r.status_code == 404, r.text

    # A customer's message is not a reply to send again.
    [inbound] = [m for m in await agent.messages(failed["conversationId"]) if m["direction"] == "inbound"]
    r = await agent.post(retry_path(inbound))
    assert r.status_code == 409 and r.json()["code"] == "not_a_reply", r.text
    assert (await message(agent, failed))["status"] == "failed"  # untouched


async def test_retry_into_a_closed_window_is_refused(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    r = await agent.send(conversationId=conv["id"], content="Before the window closed")
    assert await eventually(lambda: _status_in(agent, r.json(), ("failed",)))

    async def close_window(tx: Any) -> None:
        await tx.execute(
            "UPDATE conversations SET last_inbound_at = :t WHERE id = :id",
            t=int((time.time() - 25 * 3600) * 1000),
            id=conv["id"],
        )

    await inbox.app.state.db.write(close_window)
    r = await agent.post(retry_path(r.json()))
    assert r.status_code == 422 and r.json()["code"] == "window_closed", r.text
    assert "template" in r.json()["error"]


async def test_retry_of_a_failed_photo_uploads_it_again(template_inbox: Stack) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    r = await agent.post(
        "/api/conversations/send",
        data={"conversationId": str(conv["id"]), "caption": "The red one"},
        files={"file": ("red.png", png(rgb=(200, 0, 0)), "image/png")},
    )
    assert r.status_code == 201, r.text
    assert await eventually(lambda: _status_in(agent, r.json(), ("failed",)))
    r = await agent.post(retry_path(r.json()))
    assert r.status_code == 200, r.text
    assert await eventually(lambda: _status_in(agent, r.json(), ("sent", "delivered", "read")))
    images = [c for c in await sends_to(inbox, conv["phoneNumber"]) if c["json"]["type"] == "image"]
    assert len(images) == 2 and images[-1]["json"]["image"]["caption"] == "The red one"
    assert images[-1]["json"]["image"]["id"] != images[0]["json"]["image"]["id"]  # uploaded anew


async def test_retry_of_a_failed_template(template_inbox: Stack) -> None:
    inbox = template_inbox
    admin = await account(inbox, admin=True)
    phone = new_phone()
    r = await admin.post("/api/invitations", {"name": "Late", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), "hi", timestamp=int(time.time()) - 30 * 3600)
    conv = await admin.conversation_with(phone)
    assert conv is not None
    await inbox.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    template = {"name": "order_update", "language": "en", "parameters": ["Asha", "#1042"]}
    r = await admin.send(conversationId=conv["id"], template=template)
    assert r.status_code == 201, r.text
    assert await eventually(lambda: _status_in(admin, r.json(), ("failed",)))
    r = await admin.post(retry_path(r.json()))  # a template may go into a closed window
    assert r.status_code == 200, r.text
    assert await eventually(lambda: _status_in(admin, r.json(), ("sent", "delivered", "read")))
    calls = [c for c in await sends_to(inbox, phone) if c["json"]["type"] == "template"]
    assert len(calls) == 2 and calls[0]["json"]["template"] == calls[1]["json"]["template"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("location", {"latitude": -6.7924, "longitude": 39.2083, "name": "Bakery"}),
        (
            "contacts",
            [{"name": {"formatted_name": "Rosa Mwangi", "first_name": "Rosa"}, "phones": [{"phone": "+255712000111"}]}],
        ),
    ],
)
async def test_retry_of_a_failed_location_or_contact_card(meta_reset: Stack, kind: str, body: Any) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    r = await agent.send(conversationId=conv["id"], **{kind: body})
    assert r.status_code == 201, r.text
    assert await eventually(lambda: _status_in(agent, r.json(), ("failed",)))
    r = await agent.post(retry_path(r.json()))
    assert r.status_code == 200, r.text
    assert await eventually(lambda: _status_in(agent, r.json(), ("sent", "delivered", "read")))
    calls = [c["json"] for c in await sends_to(inbox, conv["phoneNumber"]) if c["json"]["type"] == kind]
    assert len(calls) == 2 and calls[0][kind] == calls[1][kind] == body
