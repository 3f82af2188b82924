"""The composer's WhatsApp-level tools in real Chromium (issue 11): quick replies behind `/`,
the typing indicator, quoting, reactions and the 24-hour window countdown."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.servers import Stack, eventually, new_phone
from tests.test_browser import browser, conversation_item, live, login, open_page, screenshot, web
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


async def hover_action(page: Page, message: Any, action: str, shot: str = "") -> None:
    await message.hover()
    button = message.locator(f".message-actions .message-action-{action}")
    await expect(button).to_be_visible()
    if shot:
        await screenshot(page, shot)
    await button.click()


async def test_quote_reply_both_ways_and_reactions(open_page: Any, web: Stack, tmp_path: Any) -> None:
    ana = await person(web, "Ana")
    phone = await customer_of(web, ana, "Amina", "Can I order a cake for Saturday?")
    page = await signed_in(open_page, ana)
    await open_thread(page, "Amina")
    inbound = page.locator("#thread-messages .message.inbound").first
    quote_bar = page.locator("#composer-quote")

    # Reply from the hover menu, then change her mind: × drops the quote.
    await hover_action(page, inbound, "reply")
    await expect(quote_bar).to_be_visible()
    await expect(quote_bar.locator(".quote-bar-author")).to_have_text("Amina")
    await expect(quote_bar.locator(".quote-bar-text")).to_have_text("Can I order a cake for Saturday?")
    await page.click("#composer-quote-cancel")
    await expect(quote_bar).to_be_hidden()

    # Reply for real: the bubble shows the quote, WhatsApp gets context.message_id.
    await hover_action(page, inbound, "reply")
    box = page.locator("#composer-input")
    await expect(box).to_be_focused()
    await box.press_sequentially("Of course! Which flavour?")
    await box.press("Enter")
    await expect(quote_bar).to_be_hidden()
    reply = page.locator("#thread-messages .message.outbound", has_text="Which flavour?")
    await expect(reply.locator(".reply-quote .reply-author")).to_have_text("Amina")
    await expect(reply.locator(".reply-quote .reply-text")).to_have_text("Can I order a cake for Saturday?")
    [conv] = [c for c in await ana.conversations() if c["phoneNumber"] == phone]
    messages = await ana.messages(conv["id"])
    asked = next(m for m in messages if m["direction"] == "inbound")

    async def replied() -> list[dict[str, Any]]:  # delivery runs after the bubble shows: wait for it
        requests = await web.meta_requests()
        return [
            q["json"]
            for q in requests
            if q["json"] and q["json"].get("text", {}).get("body") == "Of course! Which flavour?"
        ]

    sent = await eventually(replied)
    assert sent and sent[-1]["context"] == {"message_id": asked["wamid"]}

    # She quotes our reply back: her bubble shows it; a click on the quote jumps to ours.
    await expect(reply.locator(".status-tick")).to_have_attribute("data-status", "read")
    ours = next(m for m in await ana.messages(conv["id"]) if m["content"] == "Of course! Which flavour?")
    await web.customer_writes(phone.lstrip("+"), "Chocolate please", name="Amina", context={"id": ours["wamid"]})
    answer = page.locator("#thread-messages .message.inbound", has_text="Chocolate please")
    await expect(answer.locator(".reply-quote .reply-author")).to_have_text("Ana")
    await expect(answer.locator(".reply-quote .reply-text")).to_have_text("Of course! Which flavour?")
    await answer.locator(".reply-quote").click()
    await expect(reply).to_have_class(re.compile(r"\bflash\b"))

    # React from the hover menu; her reaction to our reply arrives live; ours comes off again.
    await hover_action(page, answer, "react", shot="message-actions")
    picker = page.locator("#reaction-picker")
    await expect(picker.locator(".reaction-choice")).to_have_count(6)
    await picker.locator('[data-emoji="👍"]').click()
    await expect(picker).to_be_hidden()
    mine = answer.locator('.reactions .reaction[data-direction="outbound"]')
    await expect(mine).to_have_text("👍")
    reaction = [q["json"] for q in await web.meta_requests() if q["json"] and q["json"].get("type") == "reaction"][-1]
    chocolate = next(m for m in await ana.messages(conv["id"]) if m["content"] == "Chocolate please")
    assert reaction["reaction"] == {"message_id": chocolate["wamid"], "emoji": "👍"}
    await web.meta_post(
        "/simulate/inbound",
        {"from": phone.lstrip("+"), "type": "reaction", "reaction": {"message_id": ours["wamid"], "emoji": "❤️"}},
    )
    await expect(reply.locator('.reactions .reaction[data-direction="inbound"]')).to_have_text("❤️")
    await screenshot(page, "quote-and-react")
    await mine.click()
    await expect(mine).to_have_count(0)

    # On a phone, swiping a message to the right replies to it.
    await page.evaluate(
        """(id) => {
          const node = document.querySelector(`#thread-messages .message[data-id="${id}"] .bubble`);
          const r = node.getBoundingClientRect();
          const at = (type, x) => node.dispatchEvent(new PointerEvent(type, {
            bubbles: true, pointerType: 'touch', pointerId: 7, clientX: x, clientY: r.top + 5 }));
          at('pointerdown', r.left + 5); at('pointermove', r.left + 40); at('pointermove', r.left + 90);
          at('pointerup', r.left + 90);
        }""",
        chocolate["id"],
    )
    await expect(quote_bar.locator(".quote-bar-text")).to_have_text("Chocolate please")

    # A file goes with the quote too.
    receipt = tmp_path / "receipt.txt"
    receipt.write_bytes(b"One chocolate cake: 25,000 TSh")
    await page.locator("#composer-file").set_input_files(str(receipt))
    await page.locator("#attach-send").click()
    await expect(quote_bar).to_be_hidden()
    document = page.locator("#thread-messages .message.outbound", has_text="receipt.txt")
    await expect(document.locator(".reply-quote .reply-text")).to_have_text("Chocolate please")

    async def filed() -> list[dict[str, Any]]:
        return [q["json"] for q in await web.meta_requests() if q["json"] and q["json"].get("type") == "document"]

    files = await eventually(filed)
    assert files and files[-1]["context"] == {"message_id": chocolate["wamid"]}


async def test_window_countdown_closing_soon_and_live_switch_to_templates(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Ana")
    now = time.time()
    await customer_of(web, ana, "Late Lukas", "Still there?")  # a fresh window: 24 h
    phone = new_phone()
    r = await ana.post("/api/invitations", {"name": "Soon Sipho", "phoneNumber": phone})
    assert r.status_code == 201
    # Wrote 23 h 30 min ago: the window closes in half an hour.
    await web.customer_writes(phone.lstrip("+"), "Is it ready?", name="Soon Sipho", timestamp=int(now - 23.5 * 3600))
    w = await open_page()
    page = w.page
    await page.clock.install(time=now)
    await login(page, ana)
    await live(page)

    late, soon = conversation_item(page, "Late Lukas"), conversation_item(page, "Soon Sipho")
    await expect(soon.locator(".window-tag")).to_have_text(re.compile(r"^Closes in (29|30) min$"))
    await expect(late.locator(".window-tag")).to_have_count(0)
    await open_thread(page, "Late Lukas")
    countdown = page.locator("#window-countdown")
    await expect(countdown).to_have_text(re.compile(r"^Window closes in 23 h 5\d min$"))
    await expect(countdown).to_have_attribute("data-soon", "false")

    await open_thread(page, "Soon Sipho")
    await expect(countdown).to_have_text(re.compile(r"^Window closes in (29|30) min$"))
    await expect(countdown).to_have_attribute("data-soon", "true")
    await expect(page.locator("#template-composer")).to_be_hidden()
    await expect(page.locator("#composer-input")).to_be_enabled()
    await screenshot(page, "window-closing-soon")

    # Twenty minutes later the countdown has moved; at the half hour the composer switches.
    await page.clock.fast_forward("20:00")
    await expect(countdown).to_have_text(re.compile(r"^Window closes in (9|10) min$"))
    await page.clock.fast_forward("11:00")
    await expect(page.locator("#template-composer")).to_be_visible()
    await expect(page.locator("#composer-input")).to_be_disabled()
    await expect(countdown).to_be_hidden()
    await expect(page.locator("#composer-notice")).to_contain_text("24-hour reply window is closed")
    await expect(soon.locator(".window-tag")).to_have_count(0)
