"""Agent replies through the Cloud API stand-in: stored first, sent, and every way it can fail
kept visible with its reason."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.servers import (
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    Agent,
    Stack,
    account,
    database_url,
    eventually,
    free_port,
    new_phone,
    stack,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def sends(inbox: Stack) -> list[dict[str, Any]]:
    """The send calls (not mark-reads) the stand-in received."""
    return [q for q in await inbox.meta_requests() if q["json"] and q["json"].get("type") == "text"]


async def customer_conversation(inbox: Stack, agent: Agent, text: str = "hello", **extra: Any) -> dict[str, Any]:
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Customer", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), text, **extra)
    conv = await agent.conversation_with(phone)
    assert conv is not None
    return conv


async def final_status(agent: Agent, conversation_id: int, message_id: int) -> str:
    async def status() -> str | None:
        [m] = [m for m in await agent.messages(conversation_id) if m["id"] == message_id]
        return m["status"] if m["status"] not in ("pending",) else None

    return await eventually(status)


# -- the happy path and refusals before anything is sent -----------------------------------


async def test_send_to_a_new_number_creates_the_conversation(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    phone = new_phone()
    typed = f"0{phone[4:7]} {phone[7:]}"  # local form, DEFAULT_REGION is TZ
    r = await agent.send(phoneNumber=typed, content="Karibu! Your order is ready.")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["direction"] == "outbound" and msg["type"] == "text"
    assert msg["content"] == "Karibu! Your order is ready."
    assert msg["wamid"] and msg["wamid"].startswith("wamid.")
    assert msg["status"] != "failed" and msg["error"] is None

    conv = await agent.conversation_with(phone)
    assert conv is not None and conv["id"] == msg["conversationId"]
    assert conv["ownerId"] == agent.id and conv["phoneNumber"] == phone
    assert conv["lastMessage"]["id"] == msg["id"] and conv["unreadCount"] == 0
    [stored] = await agent.messages(conv["id"])
    assert stored["id"] == msg["id"] and stored["wamid"] == msg["wamid"]

    [call] = await inbox.meta_requests()
    assert call["method"] == "POST" and call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert call["json"]["to"] == phone.lstrip("+")
    assert call["json"]["messaging_product"] == "whatsapp" and call["json"]["type"] == "text"
    assert call["json"]["text"]["body"] == "Karibu! Your order is ready."

    # The stand-in's status webhooks move it forward.
    assert await final_status(agent, conv["id"], msg["id"]) in ("sent", "delivered", "read")

    # A second message to the same number goes to the same conversation.
    r = await agent.send(phoneNumber=phone, content="Second")
    assert r.status_code == 201 and r.json()["conversationId"] == conv["id"]
    r = await agent.send(conversationId=conv["id"], content="Third")
    assert r.status_code == 201 and r.json()["conversationId"] == conv["id"]
    assert [m["content"] for m in await agent.messages(conv["id"])][-2:] == ["Second", "Third"]
    assert len(await sends(inbox)) == 3


async def test_an_admin_starting_a_conversation_owns_it(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin, agent = await account(inbox, admin=True), await account(inbox)
    phone = new_phone()
    r = await admin.send(phoneNumber=phone, content="Hello from the shop")
    assert r.status_code == 201, r.text
    conv = await admin.conversation_with(phone)
    assert conv is not None and conv["ownerId"] == admin.id
    assert await agent.conversation_with(phone) is None


NEW = "new phone"  # replaced by a fresh number: only the other fields are wrong
REFUSAL_CODES = {
    "content is empty": "content_empty",
    "4096": "content_too_long",
    "phone number": "invalid_phone",
    "phoneNumber or conversationId": "recipient_required",
    "not found": "conversation_not_found",
}


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"phoneNumber": NEW, "content": ""}, 422, "content is empty"),
        ({"phoneNumber": NEW, "content": "   \n  "}, 422, "content is empty"),
        ({"phoneNumber": NEW}, 422, "content is empty"),
        ({"phoneNumber": NEW, "content": "x" * 4097}, 422, "4096"),
        ({"content": "hi", "phoneNumber": "12ab"}, 422, "phone number"),
        ({"content": "hi", "phoneNumber": "0712"}, 422, "phone number"),
        ({"content": "hi", "phoneNumber": ""}, 422, "phoneNumber or conversationId"),
        ({"content": "hi"}, 422, "phoneNumber or conversationId"),
        ({"content": "hi", "conversationId": 10**9}, 404, "not found"),
    ],
)
async def test_refused_before_sending(meta_reset: Stack, body: dict[str, Any], status: int, words: str) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    if body.get("phoneNumber") == NEW:
        body = {**body, "phoneNumber": new_phone()}
    r = await agent.send(**body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == REFUSAL_CODES[words] and words in r.json()["error"]
    assert await inbox.meta_requests() == []
    assert await agent.conversations() == []


async def test_closed_24_hour_window_refuses_free_text(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    closed = await customer_conversation(inbox, agent, "old question", timestamp=int(time.time()) - 25 * 3600)
    still_open = await customer_conversation(inbox, agent, "recent question", timestamp=int(time.time()) - 23 * 3600)

    for body in ({"conversationId": closed["id"]}, {"phoneNumber": closed["phoneNumber"]}):
        r = await agent.send(content="Sorry for the delay", **body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "window_closed"
        error = r.json()["error"]
        assert "24-hour window" in error and "template" in error
    assert await inbox.meta_requests() == []
    assert [m["content"] for m in await agent.messages(closed["id"])] == ["old question"]

    r = await agent.send(conversationId=still_open["id"], content="Sorry for the delay")
    assert r.status_code == 201, r.text
    assert len(await sends(inbox)) == 1

    # When the customer writes again, the window opens again.
    await inbox.customer_writes(closed["phoneNumber"].lstrip("+"), "hello again")
    r = await agent.send(conversationId=closed["id"], content="Welcome back")
    assert r.status_code == 201 and r.json()["status"] != "failed", r.text


# -- Meta's errors ---------------------------------------------------------------------------


async def test_meta_refusal_is_stored_as_failed_with_its_meaning(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 131047, "via": "response"})

    r = await agent.send(conversationId=conv["id"], content="Are you there?")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "failed" and msg["wamid"] is None
    assert msg["error"]["code"] == 131047
    assert "24 hours" in msg["error"]["message"] and "template" in msg["error"]["message"]
    assert msg["error"]["title"] == "Re-engagement message"
    assert len(await sends(inbox)) == 1  # not retried

    # Still listed, with its reason, and it is what the conversation list shows.
    [listed] = [m for m in await agent.messages(conv["id"]) if m["id"] == msg["id"]]
    assert listed["status"] == "failed" and listed["error"] == msg["error"]
    conv = await agent.conversation_with(conv["phoneNumber"])
    assert conv["lastMessage"]["id"] == msg["id"] and conv["lastMessage"]["status"] == "failed"


async def test_bad_access_token_fails_without_retry(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 190, "times": 3})

    r = await agent.send(conversationId=conv["id"], content="hello")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "failed" and msg["error"]["code"] == 190
    assert "access token" in msg["error"]["message"].lower()
    assert len(await sends(inbox)) == 1


@pytest.mark.parametrize("code", [130429, 131000])
async def test_transient_errors_are_retried(meta_reset: Stack, code: int) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": code, "times": 2})

    r = await agent.send(conversationId=conv["id"], content=f"retry me {code}")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["error"] is None and msg["status"] != "failed" and msg["wamid"]
    calls = await sends(inbox)
    assert len(calls) == 3
    assert all(c["json"]["text"]["body"] == f"retry me {code}" for c in calls)
    assert await final_status(agent, conv["id"], msg["id"]) in ("sent", "delivered", "read")
    # One message, not three.
    assert [m["content"] for m in await agent.messages(conv["id"])].count(f"retry me {code}") == 1


async def test_failing_more_times_than_the_retries_gives_failed(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    retries = len(inbox.settings.send_retry_delays)
    await inbox.meta_post("/simulate/fail", {"code": 130429, "times": retries + 1})

    r = await agent.send(conversationId=conv["id"], content="rate limited")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "failed" and msg["error"]["code"] == 130429
    assert "rate limit" in msg["error"]["message"]
    assert len(await sends(inbox)) == retries + 1
    [listed] = [m for m in await agent.messages(conv["id"]) if m["id"] == msg["id"]]
    assert listed["status"] == "failed" and listed["error"]["code"] == 130429

    # The stand-in works again: the next message goes out.
    r = await agent.send(conversationId=conv["id"], content="next one")
    assert r.status_code == 201 and r.json()["status"] != "failed"


async def test_unreachable_meta_gives_a_network_error(tmp_path: Any) -> None:
    closed_port = free_port()
    async with database_url("sqlite", tmp_path) as url:
        async with stack(url, whatsapp_api_base=f"http://127.0.0.1:{closed_port}/v21.0") as s:
            agent = await account(s)
            phone = new_phone()
            r = await agent.send(phoneNumber=phone, content="anyone?")
            assert r.status_code == 201, r.text
            msg = r.json()
            assert msg["status"] == "failed" and msg["wamid"] is None
            assert "network error" in msg["error"]["message"]
            assert msg["error"]["title"] == "Network error"
            conv = await agent.conversation_with(phone)
            assert conv is not None
            [stored] = await agent.messages(conv["id"])
            assert stored["id"] == msg["id"] and stored["status"] == "failed"
            assert stored["content"] == "anyone?"

            # Marking read works locally even though the blue ticks cannot reach WhatsApp.
            await s.customer_writes(phone.lstrip("+"), "hello?")
            assert (await agent.conversation_with(phone))["unreadCount"] == 1
            r = await agent.post(f"/api/conversations/{conv['id']}/read")
            assert r.status_code == 200, r.text
            assert r.json()["unreadCount"] == 0


# -- idempotency -----------------------------------------------------------------------------


async def test_same_client_id_sends_once(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    phone = new_phone()
    key = uuid.uuid4().hex
    first = await agent.send(phoneNumber=phone, content="only once", clientId=key)
    again = await agent.send(phoneNumber=phone, content="only once", clientId=key)
    assert first.status_code == 201 and again.status_code == 201, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["wamid"] == first.json()["wamid"]

    # The Idempotency-Key header does the same.
    key2 = uuid.uuid4().hex
    h = {"Idempotency-Key": key2}
    r1 = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        json={"phoneNumber": phone, "content": "header"},
        headers={**agent.headers, **h},
    )
    r2 = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        json={"phoneNumber": phone, "content": "header"},
        headers={**agent.headers, **h},
    )
    assert r1.status_code == 201 and r2.status_code == 201
    assert r1.json()["id"] == r2.json()["id"] != first.json()["id"]

    # Without a key, the same text twice is two messages.
    await agent.send(phoneNumber=phone, content="twice")
    await agent.send(phoneNumber=phone, content="twice")

    conv = await agent.conversation_with(phone)
    contents = [m["content"] for m in await agent.messages(conv["id"])]
    assert contents == ["only once", "header", "twice", "twice"]
    assert [c["json"]["text"]["body"] for c in await sends(inbox)] == ["only once", "header", "twice", "twice"]


async def test_concurrent_requests_with_the_same_key_send_once(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    phone = new_phone()
    key = uuid.uuid4().hex
    responses = await asyncio.gather(
        *[
            inbox.http.post(
                f"{inbox.base_url}/api/conversations/send",
                json={"phoneNumber": phone, "content": "double click"},
                headers={**agent.headers, "Idempotency-Key": key},
            )
            for _ in range(4)
        ]
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await sends(inbox)) == 1
    conv = await agent.conversation_with(phone)
    assert len(await agent.messages(conv["id"])) == 1
    # Once settled, a retry answers with the final state.
    await final_status(agent, conv["id"], responses[0].json()["id"])
    r = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        json={"phoneNumber": phone, "content": "double click"},
        headers={**agent.headers, "Idempotency-Key": key},
    )
    assert r.json()["id"] == responses[0].json()["id"] and r.json()["wamid"]


# -- mark read -------------------------------------------------------------------------------


async def test_mark_read_clears_unread_and_gives_blue_ticks(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "first")
    newest = await inbox.customer_writes(conv["phoneNumber"].lstrip("+"), "second")
    assert (await agent.conversation_with(conv["phoneNumber"]))["unreadCount"] == 2

    r = await agent.post(f"/api/conversations/{conv['id']}/read")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == conv["id"] and r.json()["unreadCount"] == 0
    assert (await agent.get(f"/api/conversations/{conv['id']}")).json()["unreadCount"] == 0
    reads = [q for q in await inbox.meta_requests() if q["json"].get("status") == "read"]
    assert [q["json"]["message_id"] for q in reads] == [newest]
    assert reads[0]["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert {m["status"] for m in await agent.messages(conv["id"])} == {"read"}

    # Nothing new: no second call to WhatsApp.
    r = await agent.post(f"/api/conversations/{conv['id']}/read")
    assert r.status_code == 200 and r.json()["unreadCount"] == 0
    assert len([q for q in await inbox.meta_requests() if q["json"].get("status") == "read"]) == 1

    # A new message: unread again, and its wamid is the one marked.
    newer = await inbox.customer_writes(conv["phoneNumber"].lstrip("+"), "third")
    assert (await agent.conversation_with(conv["phoneNumber"]))["unreadCount"] == 1
    r = await agent.post(f"/api/conversations/{conv['id']}/read")
    assert r.json()["unreadCount"] == 0
    reads = [q for q in await inbox.meta_requests() if q["json"].get("status") == "read"]
    assert [q["json"]["message_id"] for q in reads] == [newest, newer]


async def test_no_answer_from_meta_is_not_sent_twice(tmp_path: Any) -> None:
    """A request that left but got no answer may have been accepted: retrying it could
    reach the customer twice, so it is reported instead."""
    connections: list[bytes] = []
    release = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(await reader.read(65536))
        await release.wait()
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with database_url("sqlite", tmp_path) as url:
            async with stack(url, whatsapp_api_base=f"http://127.0.0.1:{port}/v21.0", send_timeout=0.3) as s:
                agent = await account(s)
                r = await agent.send(phoneNumber=new_phone(), content="slow network")
                assert r.status_code == 201, r.text
                msg = r.json()
                assert msg["status"] == "failed"
                assert "may or may not have reached the customer" in msg["error"]["message"]
                assert len(connections) == 1 and b"slow network" in connections[0]
    finally:
        release.set()
        silent.close()
        await silent.wait_closed()
