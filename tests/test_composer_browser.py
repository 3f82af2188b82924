"""The composer's WhatsApp-level tools in real Chromium (issue 11): quick replies behind `/`,
the typing indicator, quoting, reactions and the 24-hour window countdown."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.servers import Stack, eventually
from tests.test_browser import browser, conversation_item, open_page, screenshot, web
from tests.test_team_browser import customer_of, person, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["browser", "open_page", "web"]  # fixtures shared with test_browser.py


async def open_thread(page: Page, name: str) -> None:
    await conversation_item(page, name).click()
    await expect(page.locator("#thread-title")).to_have_text(name)


async def test_quick_replies_fill_in_and_follow_the_team(open_page: Any, web: Stack) -> None:
    tag = uuid.uuid4().hex[:4]
    admin, ana = await person(web, "Sam", admin=True), await person(web, "Ana")
    r = await admin.post(
        "/api/quick-replies",
        {"shortcut": f"hours{tag}", "content": "Hi {{name}}, we open at 7. {{agent}} ({{phone}})"},
    )
    assert r.status_code == 201, r.text
    await admin.post("/api/quick-replies", {"shortcut": f"address{tag}", "content": "Market Street 4"})
    phone = await customer_of(web, ana, "Amina", "When do you open?")
    page = await signed_in(open_page, ana)
    await open_thread(page, "Amina")

    # "/" and part of the shortcut: the matching ones, keyboard first.
    box = page.locator("#composer-input")
    await box.press_sequentially(f"/hours{tag[:2]}")
    popup = page.locator("#quick-replies")
    await expect(popup).to_be_visible()
    await expect(popup.locator(".quick-reply .quick-reply-shortcut")).to_have_text([f"/hours{tag}"])
    await expect(popup.locator(".quick-reply.active .quick-reply-scope")).to_have_text("Team")
    await box.press("Enter")  # inserts, does not send
    await expect(popup).to_be_hidden()
    filled = f"Hi Amina, we open at 7. Ana ({phone})"
    await expect(box).to_have_value(filled)
    await expect(page.locator("#thread-messages .message.outbound")).to_have_count(0)

    # Ready to edit before sending; what goes to WhatsApp is the edited text.
    await box.press("End")
    await box.press_sequentially(" See you!")
    await box.press("Enter")
    await expect(page.locator("#thread-messages .message.outbound .text")).to_have_text(filled + " See you!")
    sent = await eventually(lambda: _texts(web, phone))
    assert sent == [filled + " See you!"]

    # Escape closes the list; the arrow keys move through it.
    await box.press_sequentially(f"/address{tag}")
    await expect(popup.locator(".quick-reply")).to_have_count(1)
    await box.press("Escape")
    await expect(popup).to_be_hidden()
    await box.fill("")

    # Her own quick reply, added in the dialog, private and editable.
    await box.press_sequentially("/")
    await expect(popup).to_be_visible()
    await popup.locator(".quick-reply-manage").click()
    dialog = page.locator("#quick-replies-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(f'.quick-reply-row[data-shortcut="hours{tag}"] .quick-reply-edit')).to_have_count(0)
    await page.fill("#quick-reply-shortcut", f"thanks{tag}")
    await page.fill("#quick-reply-content", "Thank you, {{name}}!")
    await expect(page.locator("#quick-reply-shared")).to_be_hidden()  # agents' ones are their own
    await page.click("#quick-reply-save")
    row = dialog.locator(f'.quick-reply-row[data-shortcut="thanks{tag}"]')
    await expect(row.locator(".quick-reply-scope")).to_have_text("Yours")
    await screenshot(page, "quick-replies-dialog")
    await page.click("#quick-reply-close")
    mine = [q for q in (await ana.get("/api/quick-replies")).json() if q["shortcut"] == f"thanks{tag}"]
    assert mine and mine[0]["shared"] is False

    # The admin changes the team's reply while Ana's list is open: she sees the new text, live.
    await box.fill("")
    await box.press_sequentially(f"/hours{tag}")
    item = popup.locator(f'.quick-reply[data-shortcut="hours{tag}"] .quick-reply-text')
    await expect(item).to_contain_text("we open at 7")
    hours_id = next(q["id"] for q in (await ana.get("/api/quick-replies")).json() if q["shortcut"] == f"hours{tag}")
    r = await web.http.patch(
        f"{web.base_url}/api/quick-replies/{hours_id}", json={"content": "Open 6:30 today"}, headers=admin.headers
    )
    assert r.status_code == 200
    await expect(item).to_have_text("Open 6:30 today")
    await screenshot(page, "quick-replies")


async def _texts(web: Stack, phone: str) -> list[str]:
    return [
        q["json"]["text"]["body"]
        for q in await web.meta_requests()
        if q["json"] and q["json"].get("type") == "text" and q["json"].get("to") == phone.lstrip("+")
    ]


async def test_typing_indicator_once_per_twenty_seconds_and_never_in_notes(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Ana")
    await customer_of(web, ana, "Kito", "Two loaves please")
    page = await signed_in(open_page, ana)
    typing_calls: list[str] = []
    page.on("request", lambda req: req.url.endswith("/typing") and typing_calls.append(req.method))
    await open_thread(page, "Kito")
    [conv] = [c for c in await ana.conversations() if c["contactName"] == "Kito"]
    newest = next(m["wamid"] for m in reversed(await ana.messages(conv["id"])) if m["direction"] == "inbound")

    box = page.locator("#composer-input")
    await page.click("#composer-note")  # a private note is not for the customer: no "typing…"
    await box.press_sequentially("call her back")
    await box.press("Enter")
    await expect(page.locator("#thread-messages .message.note .text")).to_have_text("call her back")
    await page.click("#composer-note")
    assert typing_calls == [] and newest not in web.meta.typing

    await box.press_sequentially("Sure, ")
    assert await eventually(lambda: _typed(web, newest))
    await box.press_sequentially("two loaves it is.")
    await box.press("Enter")
    await expect(page.locator("#thread-messages .message.outbound .status-tick")).to_have_attribute(
        "data-status", "read"
    )
    # Once for all those keystrokes (the browser asked before it sent the reply).
    assert typing_calls == ["POST"] and web.meta.typing.count(newest) == 1
    # The reply dismissed it on the customer's phone: typing again shows it again.
    await box.press_sequentially("Anything else?")
    assert await eventually(lambda: _typed(web, newest, times=2))
    assert typing_calls == ["POST", "POST"]


async def _typed(web: Stack, wamid: str, times: int = 1) -> bool:
    return web.meta.typing.count(wamid) >= times
