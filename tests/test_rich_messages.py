"""Locations, contact cards and interactive messages an agent sends: the exact Graph request
bodies Meta documents reach the stand-in, the reply is stored and shown like a customer's,
and what Meta would refuse is a 422 naming the field before anything is stored or sent."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.servers import PHONE_NUMBER_ID, Stack, eventually, new_phone
from tests.test_sending import account, customer_conversation

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def graph_calls(inbox: Stack, kind: str) -> list[dict[str, Any]]:
    return [q for q in await inbox.meta_requests() if q["json"] and q["json"].get("type") == kind]


async def sent(inbox: Stack, agent: Any, conv: dict[str, Any], kind: str, **body: Any) -> dict[str, Any]:
    """Send, check the stored reply reached Meta as `kind`, and return (reply, Graph body)."""
    r = await agent.send(conversationId=conv["id"], **body)
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["type"] == kind and msg["direction"] == "outbound"

    async def delivered() -> Any:
        [m] = [m for m in await agent.messages(conv["id"]) if m["id"] == msg["id"]]
        return m if m["status"] in ("sent", "delivered", "read") else None

    stored = await eventually(delivered)
    assert stored, f"the {kind} reply never left: {msg}"
    [call] = await graph_calls(inbox, kind)
    assert call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    return {"message": stored, "graph": call["json"]}


async def test_a_location_is_sent_as_meta_documents_it(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "where is the shop?")
    location = {"latitude": -6.7924, "longitude": 39.2083, "name": "Bakery", "address": "Samora Ave 12, Dar es Salaam"}
    out = await sent(inbox, agent, conv, "location", location=location)
    assert out["graph"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": conv["phoneNumber"].lstrip("+"),
        "type": "location",
        "location": location,
    }
    # Stored in the shape the dashboard shows for a customer's location.
    assert out["message"]["content"] == "Bakery"
    assert out["message"]["data"] == location
    [listed] = [c for c in await agent.conversations() if c["id"] == conv["id"]]
    assert listed["lastMessage"]["type"] == "location"


async def test_a_bare_pin_and_string_coordinates(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    out = await sent(inbox, agent, conv, "location", location={"latitude": "52.52", "longitude": "13.405"})
    assert out["graph"]["location"] == {"latitude": 52.52, "longitude": 13.405}
    assert out["message"]["content"] == "52.52, 13.405"


async def test_contact_cards_are_sent_as_meta_documents_them(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "who delivers?")
    cards = [
        {
            "name": {"formatted_name": "Juma Baraka", "first_name": "Juma", "last_name": "Baraka"},
            "phones": [{"phone": "+255 712 345 678", "type": "WORK", "wa_id": "255712345678"}],
            "emails": [{"email": "juma@example.com", "type": "WORK"}],
            "org": {"company": "Bakery", "title": "Driver"},
        },
        {"name": {"formatted_name": "Shop", "first_name": "Shop"}, "phones": [{"phone": "+255 22 211 0000"}]},
    ]
    out = await sent(inbox, agent, conv, "contacts", contacts=cards)
    assert out["graph"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": conv["phoneNumber"].lstrip("+"),
        "type": "contacts",
        "contacts": cards,
    }
    assert out["message"]["content"] == "Juma Baraka, Shop"
    assert out["message"]["data"] == cards


async def test_reply_buttons_are_sent_as_meta_documents_them(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    interactive = {
        "type": "button",
        "header": {"type": "text", "text": "Your order"},
        "body": {"text": "Pick up or delivery?"},
        "footer": {"text": "Bakery"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "pickup", "title": "Pick up"}},
                {"type": "reply", "reply": {"id": "deliver", "title": "Delivery"}},
            ]
        },
    }
    out = await sent(inbox, agent, conv, "interactive", interactive=interactive)
    assert out["graph"]["interactive"] == interactive
    assert out["graph"]["to"] == conv["phoneNumber"].lstrip("+")
    assert out["message"]["content"] == "Pick up or delivery?"
    data = out["message"]["data"]
    assert data["kind"] == "button" and data["header"] == "Your order" and data["footer"] == "Bakery"
    assert [b["title"] for b in data["buttons"]] == ["Pick up", "Delivery"]


async def test_a_list_is_sent_as_meta_documents_it(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    interactive = {
        "type": "list",
        "body": {"text": "What would you like?"},
        "action": {
            "button": "Menu",
            "sections": [
                {"title": "Bread", "rows": [{"id": "b1", "title": "Sourdough", "description": "800 g"}]},
                {"title": "Cake", "rows": [{"id": "c1", "title": "Carrot cake"}, {"id": "c2", "title": "Cheesecake"}]},
            ],
        },
    }
    out = await sent(inbox, agent, conv, "interactive", interactive=interactive)
    assert out["graph"]["interactive"] == interactive
    assert out["message"]["data"]["button"] == "Menu"


def buttons(n: int, title: str = "Option") -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "Choose"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": f"{title} {i}"}} for i in range(n)]},
    }


def rows(n: int) -> dict[str, Any]:
    return {
        "type": "list",
        "body": {"text": "Choose"},
        "action": {"button": "Menu", "sections": [{"rows": [{"id": f"r{i}", "title": f"Row {i}"} for i in range(n)]}]},
    }


CARD = {"name": {"formatted_name": "Juma", "first_name": "Juma"}}


@pytest.mark.parametrize(
    "body,code,words",
    [
        ({"location": {"longitude": 39.2}}, "invalid_location", "location.latitude is required"),
        (
            {"location": {"latitude": 95, "longitude": 39.2}},
            "invalid_location",
            "location.latitude must be between -90",
        ),
        ({"location": {"latitude": "north", "longitude": 1}}, "invalid_location", "location.latitude must be a number"),
        ({"location": {"latitude": 1, "longitude": 1, "zoom": 3}}, "invalid_location", "unknown field(s) zoom"),
        ({"contacts": []}, "invalid_contacts", "one or more contact cards"),
        ({"contacts": [{"phones": [{"phone": "1"}]}]}, "invalid_contacts", "contacts[0].name must be an object"),
        ({"contacts": [{"name": {"formatted_name": "Juma"}}]}, "invalid_contacts", "first_name or last_name"),
        ({"contacts": [{**CARD, "phones": [{"type": "HOME"}]}]}, "invalid_contacts", "phones[0].phone is required"),
        ({"contacts": [{**CARD, "birthday": "3 May"}]}, "invalid_contacts", "YYYY-MM-DD"),
        ({"interactive": buttons(4)}, "invalid_interactive", "at most 3 reply buttons, 4 given"),
        ({"interactive": buttons(0)}, "invalid_interactive", "1 to 3 reply buttons"),
        ({"interactive": buttons(2, "A very long button title")}, "invalid_interactive", "title is longer than"),
        ({"interactive": rows(11)}, "invalid_interactive", "at most 10 rows in a list, 11 given"),
        ({"interactive": {**buttons(1), "type": "carousel"}}, "invalid_interactive", "interactive.type must be"),
        ({"interactive": {**buttons(1), "body": {}}}, "invalid_interactive", "interactive.body.text is required"),
        ({"location": {"latitude": 1, "longitude": 1}, "contacts": [CARD]}, "invalid_field", "one message at a time"),
        ({"location": {"latitude": 1, "longitude": 1}, "content": "hi"}, "invalid_field", "content is for text"),
    ],
)
async def test_refused_before_meta_is_called(meta_reset: Stack, body: dict[str, Any], code: str, words: str) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    r = await agent.send(conversationId=conv["id"], **body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code and words in r.json()["error"], r.json()
    assert [m["type"] for m in await agent.messages(conv["id"])] == ["text"]  # only the customer's
    assert [q for q in await inbox.meta_requests() if q["json"].get("type") != "text"] == []


async def test_the_24_hour_window_holds_for_them_too(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, "old", timestamp=int(time.time()) - 25 * 3600)
    r = await agent.send(conversationId=conv["id"], location={"latitude": 1, "longitude": 2})
    assert r.status_code == 422 and r.json()["code"] == "window_closed"


async def test_the_stand_in_refuses_what_meta_refuses(inbox: Stack) -> None:
    """The stand-in answers a body our server would never send the way Meta does."""
    url = f"{inbox.meta_url}/v21.0/{PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {inbox.settings.whatsapp_access_token}"}
    to = new_phone().lstrip("+")
    base = {"messaging_product": "whatsapp", "to": to}
    cases = [
        ({"type": "interactive", "interactive": buttons(4)}, 131009, "Buttons count invalid"),
        ({"type": "interactive", "interactive": rows(11)}, 131009, "Total row count"),
        ({"type": "location", "location": {"longitude": 1}}, 100, "location['latitude']"),
        ({"type": "contacts", "contacts": [{"name": {"formatted_name": "X"}}]}, 131009, "needs at least one of"),
    ]
    for body, code, words in cases:
        r = await inbox.http.post(url, json={**base, **body}, headers=headers)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == code and words in error["error_data"]["details"], error
    r = await inbox.http.post(url, json={**base, "type": "interactive", "interactive": buttons(3)}, headers=headers)
    assert r.status_code == 200 and r.json()["messages"][0]["id"].startswith("wamid.")
