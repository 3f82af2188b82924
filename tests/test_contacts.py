"""Names: the one the business gave a customer stays; the WhatsApp profile name follows
webhooks and is shown only while nobody gave one; both are searched (issue 16, point 2)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.servers import Agent, Stack, account, new_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def patch(agent: Agent, conversation_id: int, body: Any) -> httpx.Response:
    return await agent.stack.http.patch(
        f"{agent.stack.base_url}/api/conversations/{conversation_id}", json=body, headers=agent.headers
    )


async def test_the_invitation_name_stays_and_the_profile_name_follows(inbox: Stack) -> None:
    agent = await account(inbox)
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Mrs Achieng (bakery order)", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), "Habari", name="💃🏾")
    conv = await agent.conversation_with(phone)
    assert conv is not None
    assert conv["contactName"] == "Mrs Achieng (bakery order)" and conv["profileName"] == "💃🏾"
    await inbox.customer_writes(phone.lstrip("+"), "Niko hapa", name="Achieng W.")
    conv = await agent.conversation_with(phone)
    assert conv is not None
    assert conv["contactName"] == "Mrs Achieng (bakery order)" and conv["profileName"] == "Achieng W."


async def test_an_agents_name_stays_until_cleared(inbox: Stack) -> None:
    agent = await account(inbox, admin=True)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "hi", name="Juma")
    conv = await agent.conversation_with(phone)
    assert conv is not None and conv["contactName"] == "Juma" and conv["profileName"] == "Juma"
    await inbox.customer_writes(phone.lstrip("+"), "hi again", name="Juma K")
    conv = await agent.conversation_with(phone)
    assert conv is not None and conv["contactName"] == "Juma K"  # nobody gave a name: the profile's

    r = await patch(agent, conv["id"], {"contactName": "  Juma   Kassim (supplier) "})
    assert r.status_code == 200, r.text
    assert r.json()["contactName"] == "Juma Kassim (supplier)" and r.json()["profileName"] == "Juma K"
    await inbox.customer_writes(phone.lstrip("+"), "one more", name="🦁")
    conv = await agent.conversation_with(phone)
    assert conv is not None and conv["contactName"] == "Juma Kassim (supplier)" and conv["profileName"] == "🦁"

    r = await patch(agent, conv["id"], {"contactName": None})
    assert r.status_code == 200 and r.json()["contactName"] == "🦁"
    r = await patch(agent, conv["id"], {"contactName": ""})
    assert r.status_code == 200 and r.json()["contactName"] == "🦁"


async def test_search_finds_the_given_name_and_the_profile_name(inbox: Stack) -> None:
    agent = await account(inbox, admin=True)
    phone = new_phone()
    tag = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:6])  # letters: no phone matches
    await inbox.customer_writes(phone.lstrip("+"), "hi", name=f"Profile{tag}")
    conv = await agent.conversation_with(phone)
    assert conv is not None
    r = await patch(agent, conv["id"], {"contactName": f"Given{tag}"})
    assert r.status_code == 200, r.text
    for text in (f"given{tag}", f"PROFILE{tag}", tag):
        found = [c["id"] for c in await agent.conversations(search=text)]
        assert found == [conv["id"]], text


async def test_renaming_is_announced_and_checked(inbox: Stack) -> None:
    owner, other = await account(inbox), await account(inbox)
    phone = new_phone()
    r = await owner.post("/api/invitations", {"name": "Baraka", "phoneNumber": phone})
    assert r.status_code == 201
    await inbox.customer_writes(phone.lstrip("+"), "hi", name="B")
    conv = await owner.conversation_with(phone)
    assert conv is not None
    since = (await owner.get("/api/events")).json()["lastId"]
    r = await patch(owner, conv["id"], {"contactName": "Baraka Mushi"})
    assert r.status_code == 200, r.text
    events = (await owner.get("/api/events", since=since)).json()["events"]
    assert [e["data"]["contactName"] for e in events if e["type"] == "conversation.updated"] == ["Baraka Mushi"]

    assert (await patch(other, conv["id"], {"contactName": "Mine"})).status_code == 404
    for body, words in (
        ({}, "give contactName"),
        ({"contactName": 5}, "text"),
        ({"contactName": "x" * 201}, "200"),
        ([1], "object"),
    ):
        r = await patch(owner, conv["id"], body)
        assert r.status_code in (400, 422) and words in r.json()["error"], (body, r.text)
    assert (await owner.conversation_with(phone) or {})["contactName"] == "Baraka Mushi"


async def test_the_contact_panel(inbox: Stack) -> None:
    agent = await account(inbox)
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Neema", "phoneNumber": phone})
    assert r.status_code == 201
    invited_at = r.json()["createdAt"]
    await inbox.customer_writes(phone.lstrip("+"), "hello", name="Neema S")
    conv = await agent.conversation_with(phone)
    assert conv is not None
    r = await agent.get(f"/api/conversations/{conv['id']}/contact")
    assert r.status_code == 200, r.text
    panel = r.json()
    assert panel["phoneNumber"] == phone and panel["profileName"] == "Neema S" and panel["contactName"] == "Neema"
    assert panel["invitation"] == {
        "name": "Neema",
        "invitedById": agent.id,
        "invitedBy": agent.email,
        "invitedByName": agent.email.split("@")[0],  # no name given: the part before the @
        "invitedAt": invited_at,
    }
    assert panel["firstContactAt"] and panel["conversationCount"] == 1
    other = await account(inbox)
    assert (await other.get(f"/api/conversations/{conv['id']}/contact")).status_code == 404
