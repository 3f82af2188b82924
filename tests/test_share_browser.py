"""Sending a location and a contact card from the composer, in real Chromium: the agent fills
a dialog, the reply shows in the thread like a customer's would, and the stand-in got the
Cloud API's body. Reply buttons sent through the API show with their buttons."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import expect

from tests.servers import Stack
from tests.test_browser import browser, invited, login, open_page, screenshot, web  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def graph(web: Stack, kind: str, phone: str) -> list[dict[str, Any]]:
    return [
        q["json"]
        for q in web.meta.requests
        if q["json"] and q["json"].get("type") == kind and q["json"].get("to") == phone.lstrip("+")
    ]


async def test_send_a_location_and_a_contact_card(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Wanderer")
    await web.customer_writes(phone.lstrip("+"), "Where are you?", name="Wanderer")
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Wanderer").click()

    await page.locator("#share-location").click()
    dialog = page.locator("#location-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#location-latitude").fill("95")  # no such latitude: the server says so
    await dialog.locator("#location-longitude").fill("39.2083")
    await dialog.get_by_role("button", name="Send").click()
    await expect(dialog.locator(".error")).to_have_text("location.latitude must be between -90 and 90")
    await dialog.locator("#location-latitude").fill("-6.7924")
    await dialog.locator("#location-name").fill("The bakery")
    await dialog.locator("#location-address").fill("Samora Ave 12")
    await dialog.get_by_role("button", name="Send").click()
    await expect(dialog).to_be_hidden()
    pin = page.locator("#thread-messages .message.outbound .location-link")
    await expect(pin).to_have_text("📍 The bakery")
    assert "mlat=-6.7924" in (await pin.get_attribute("href") or "")
    await expect(page.locator("#thread-messages .message.outbound .secondary").first).to_have_text("Samora Ave 12")
    assert graph(web, "location", phone) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": phone.lstrip("+"),
            "type": "location",
            "location": {"latitude": -6.7924, "longitude": 39.2083, "name": "The bakery", "address": "Samora Ave 12"},
        }
    ]

    await page.locator("#share-contact").click()
    dialog = page.locator("#contact-dialog")
    await dialog.locator("#contact-name").fill("Juma Baraka")
    await dialog.locator("#contact-phone").fill("+255 712 345 678")
    await dialog.get_by_role("button", name="Send").click()
    await expect(dialog).to_be_hidden()
    card = page.locator("#thread-messages .message.outbound .contact-card")
    await expect(card.locator(".contact-name")).to_have_text("👤 Juma Baraka")
    await expect(card.locator("a.contact-phone")).to_have_attribute("href", "tel:+255712345678")
    [body] = graph(web, "contacts", phone)
    assert body["contacts"] == [
        {
            "name": {"formatted_name": "Juma Baraka", "first_name": "Juma", "last_name": "Baraka"},
            "phones": [{"phone": "+255 712 345 678", "type": "CELL"}],
        }
    ]
    await expect(page.locator("#conversation-list .conversation-item", has_text="Wanderer")).to_contain_text(
        "Juma Baraka"
    )
    await screenshot(page, "share-location-contact")

    # Reply buttons sent by a script show as the customer sees them.
    conv = await agent.conversation_with(phone)
    assert conv is not None
    r = await agent.send(
        conversationId=conv["id"],
        interactive={
            "type": "button",
            "body": {"text": "Pick up or delivery?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "p", "title": "Pick up"}},
                    {"type": "reply", "reply": {"id": "d", "title": "Delivery"}},
                ]
            },
        },
    )
    assert r.status_code == 201, r.text
    bubble = page.locator("#thread-messages .message.outbound", has_text="Pick up or delivery?")
    await expect(bubble.locator(".interactive-choice")).to_have_text(["Pick up", "Delivery"])


async def test_sharing_waits_for_an_open_window(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Sleeper")
    await web.customer_writes(phone.lstrip("+"), "hi", name="Sleeper", timestamp=int(time.time()) - 26 * 3600)
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Sleeper").click()
    await expect(page.locator("#share-location")).to_be_disabled()
    await expect(page.locator("#share-contact")).to_be_disabled()
    await web.customer_writes(phone.lstrip("+"), "back", name="Sleeper")
    await expect(page.locator("#share-location")).to_be_enabled()
