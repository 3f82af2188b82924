"""Numbers an agent types: refused only when they cannot be a phone number; a customer's
own number is always accepted; Meta decides the rest (issue 16, point 1)."""

from __future__ import annotations

import uuid

import pytest

from tests.servers import Stack, account

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def sent_to(inbox: Stack) -> list[str]:
    return [q["json"]["to"] for q in await inbox.meta_requests() if q["json"] and q["json"].get("type") == "text"]


async def test_the_seeds_curl_example_is_sent(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    r = await agent.post("/api/conversations/send", {"phoneNumber": "255123456789", "content": "Hello from dashboard!"})
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "Hello from dashboard!" and r.json()["status"] != "failed"
    assert await sent_to(inbox) == ["255123456789"]
    conv = await agent.conversation_with("+255123456789")
    assert conv is not None and conv["id"] == r.json()["conversationId"]


@pytest.mark.parametrize("typed", ["+447700900123", "447700900123", "+44 7700 900123"])
async def test_reply_by_number_to_a_customer_who_wrote_in(meta_reset: Stack, typed: str) -> None:
    inbox = meta_reset
    agent = await account(inbox, admin=True)
    await inbox.customer_writes("447700900123", "Hi from London")
    conv = await agent.conversation_with("+447700900123")
    assert conv is not None
    r = await agent.send(phoneNumber=typed, content="Hello London")
    assert r.status_code == 201, r.text
    assert r.json()["conversationId"] == conv["id"]
    assert await sent_to(inbox) == ["447700900123"]


async def test_a_customers_number_is_accepted_even_when_its_length_looks_wrong(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox, admin=True)
    odd = "2557" + str(uuid.uuid4().int % 10**9).zfill(9)  # one digit more than Tanzania's numbers
    await inbox.customer_writes(odd, "my number is long")
    conv = await agent.conversation_with("+" + odd)
    assert conv is not None
    r = await agent.send(phoneNumber=odd, content="we can still answer")
    assert r.status_code == 201, r.text
    assert r.json()["conversationId"] == conv["id"]
    # The same number typed without a conversation is refused, with the reason.
    other = "2557" + str(uuid.uuid4().int % 10**9).zfill(9)
    r = await agent.send(phoneNumber=other, content="hi")
    assert r.status_code == 422 and "too long" in r.json()["error"]


@pytest.mark.parametrize(
    "typed,words",
    [
        ("+255 712", "too short"),
        ("+255 7123 4567 8901", "too long"),
        ("+255 712 ABC 678", "letters"),
        ("hello", "not a phone number"),
    ],
)
async def test_a_number_that_cannot_be_one_is_refused_with_the_reason(
    meta_reset: Stack, typed: str, words: str
) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    r = await agent.send(phoneNumber=typed, content="hi")
    assert r.status_code == 422, r.text
    assert words in r.json()["error"] and typed in r.json()["error"]
    assert await inbox.meta_requests() == []


async def test_meta_decides_and_its_refusal_reaches_the_agent(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    await inbox.meta_post("/simulate/fail", {"code": 131026})
    r = await agent.send(phoneNumber="+255 123 456 780", content="are you on WhatsApp?")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "failed" and r.json()["error"]["code"] == 131026


async def test_argentinian_mobiles_typed_any_way_reach_metas_549_conversation(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent, other = await account(inbox), await account(inbox)
    subscriber = str(uuid.uuid4().int % 10**4).zfill(4)
    # Invited the way an Argentinian writes a Buenos Aires mobile: area code, 15, number.
    r = await agent.post("/api/invitations", {"name": "Lucía", "phoneNumber": f"+54 11 15 4567-{subscriber}"})
    assert r.status_code == 201, r.text
    # Meta delivers from 549 + area code + number.
    await inbox.customer_writes(f"549114567{subscriber}", "Hola")
    conv = await agent.conversation_with(f"+549114567{subscriber}")
    assert conv is not None and conv["ownerId"] == agent.id
    assert await other.conversation_with(f"+549114567{subscriber}") is None
    for typed in (f"+54 9 11 4567-{subscriber}", f"+54 11 4567 {subscriber}", f"54114567{subscriber}"):
        r = await agent.send(phoneNumber=typed, content="Hola Lucía")
        assert r.status_code == 201, (typed, r.text)
        assert r.json()["conversationId"] == conv["id"], typed
    convs = [c for c in await agent.conversations(search=subscriber) if subscriber in (c["phoneNumber"] or "")]
    assert [c["id"] for c in convs] == [conv["id"]]
