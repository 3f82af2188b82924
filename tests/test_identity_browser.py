"""Who is who in the dashboard (issue 16), in real Chromium: both names and renaming (live in
another dashboard), the contact panel, several business numbers (tags, filter, adding one,
a webhook for an unknown number applied from the Team tab), account errors, what Meta's
edits, deletions, Flow replies, ads, forwards and number changes look like, and an admin
merging two conversations of one person after a confirmation."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.servers import PHONE_NUMBER_ID, Stack, eventually, new_phone
from tests.test_browser import browser, conversation_item, open_page, screenshot, web
from tests.test_team_browser import customer_of, person, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["browser", "open_page", "web"]  # fixtures shared with test_browser.py

SECOND = "1000000002"  # the stand-in's second number


def value(messages: list[dict[str, Any]], number: str = PHONE_NUMBER_ID, **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": number},
        "messages": messages,
        **extra,
    }


def message(sender: str, mtype: str, payload: Any, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"id": f"wamid.{uuid.uuid4().hex}", "timestamp": str(int(time.time())), "type": mtype}
    m["from"] = sender
    m[mtype] = payload
    return {**m, **extra}


async def post(web: Stack, body: dict[str, Any]) -> None:
    r = await web.meta_post("/simulate/webhook", body)
    assert r["webhookStatus"] == 200, r


async def open_contact(page: Page) -> Any:
    await page.click("#contact-button")
    panel = page.locator("#contact-panel")
    await expect(panel).to_be_visible()
    return panel


def fact(page: Page, field: str) -> Any:
    return page.locator(f"#contact-facts dd[data-field='{field}']")


async def test_both_names_the_contact_panel_and_a_rename_seen_live(open_page: Any, web: Stack) -> None:
    sam, ana = await person(web, "Sam", admin=True), await person(web, "Ana")
    phone = await customer_of(web, ana, "Mrs Achieng", "Habari, is the cake ready?")
    # The customer's WhatsApp profile name differs from the invitation's name.
    await web.customer_writes(phone.lstrip("+"), "Niko hapa", name="💃🏾")
    r = await sam.post("/api/labels", {"name": f"vip-{uuid.uuid4().hex[:4]}", "color": "#d97706"})
    label = r.json()["name"]
    [conv] = [c for c in await ana.conversations() if c["phoneNumber"] == phone]
    r = await web.http.put(
        f"{web.base_url}/api/conversations/{conv['id']}/labels", json={"labels": [label]}, headers=ana.headers
    )
    assert r.status_code == 200, r.text

    ana_page = await signed_in(open_page, ana)
    sam_page = await signed_in(open_page, sam)
    row = conversation_item(ana_page, "Mrs Achieng")
    await expect(row.locator(".conv-name")).to_have_text("Mrs Achieng")
    await expect(row.locator(".conv-profile")).to_have_text("~💃🏾")
    await row.click()
    await expect(ana_page.locator("#thread-title")).to_have_text("Mrs Achieng")
    await expect(ana_page.locator("#thread-subtitle")).to_contain_text(phone)
    await expect(ana_page.locator("#thread-subtitle")).to_contain_text("~💃🏾")

    await open_contact(ana_page)
    await expect(fact(ana_page, "phone")).to_have_text(phone)
    await expect(fact(ana_page, "profile")).to_have_text("💃🏾")
    await expect(fact(ana_page, "invitation")).to_have_text(re.compile(r"^Mrs Achieng, invited by Ana on \S+"))
    await expect(fact(ana_page, "first-contact")).not_to_have_text("—")
    await expect(fact(ana_page, "conversations")).to_have_text("1")
    await expect(fact(ana_page, "labels")).to_have_text(label)
    await expect(ana_page.locator("#contact-name-input")).to_have_value("Mrs Achieng")
    await expect(ana_page.locator("#merge-button")).to_be_hidden()  # agents do not merge

    await conversation_item(sam_page, "Mrs Achieng").click()
    await expect(sam_page.locator("#thread-title")).to_have_text("Mrs Achieng")
    await open_contact(sam_page)

    # Ana renames; Sam's list, header and panel follow without a reload.
    await ana_page.fill("#contact-name-input", "Achieng (bakery order)")
    await ana_page.click("#contact-name-save")
    await expect(ana_page.locator("#contact-name-message")).to_have_text("Saved.")
    await expect(ana_page.locator("#thread-title")).to_have_text("Achieng (bakery order)")
    await expect(conversation_item(sam_page, "Achieng (bakery order)").locator(".conv-profile")).to_have_text("~💃🏾")
    await expect(sam_page.locator("#thread-title")).to_have_text("Achieng (bakery order)")
    await expect(sam_page.locator("#contact-name-input")).to_have_value("Achieng (bakery order)")
    await screenshot(ana_page, "identity-contact-panel")

    # The next message's profile name changes the profile name only.
    await web.customer_writes(phone.lstrip("+"), "Asante", name="Achieng W.")
    await expect(conversation_item(sam_page, "Achieng (bakery order)").locator(".conv-profile")).to_have_text(
        "~Achieng W."
    )
    await expect(sam_page.locator("#thread-title")).to_have_text("Achieng (bakery order)")

    # Back to the WhatsApp name: the profile name is the name again, shown once.
    await sam_page.click("#contact-name-clear")
    await expect(conversation_item(ana_page, "Achieng W.").locator(".conv-profile")).to_have_count(0)
    await expect(ana_page.locator("#thread-title")).to_have_text("Achieng W.")


async def test_what_meta_changes_and_marks_is_shown(open_page: Any, web: Stack) -> None:
    sam = await person(web, "Sam", admin=True)
    phone = new_phone()
    wa = phone.lstrip("+")
    first = await web.customer_writes(wa, "See you at 5", name="Baraka")
    second = await web.customer_writes(wa, "my PIN is 1234", name="Baraka")
    edit = {"original_message_id": first, "message": {"type": "text", "text": {"body": "See you at 6"}}}
    answers = {"flow_token": "AQAAAA.", "delivery_rating": "4", "comment_text": "Fast, thanks"}
    flow = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(answers)}}
    referral = {
        "source_url": "https://fb.me/3cr4Wqqkk",
        "source_type": "ad",
        "source_id": "2384",
        "headline": "Fresh mandazi every morning",
        "body": "Order before 9",
        "media_type": "image",
    }
    new = new_phone()
    changed = {"body": f"User A changed from {wa} to {new[1:]}", "wa_id": new[1:], "type": "user_changed_number"}
    await post(
        web,
        value(
            [
                message(wa, "edit", edit),
                message(wa, "revoke", {"original_message_id": second}),
                message(wa, "interactive", flow),
                message(wa, "text", {"body": "Do you deliver?"}, referral=referral),
                message(wa, "text", {"body": "look at this"}, context={"forwarded": True}),
                message(wa, "system", changed),
            ],
            contacts=[{"profile": {"name": "Baraka"}, "wa_id": wa}],
        ),
    )
    page = await signed_in(open_page, sam)
    await conversation_item(page, "Baraka").click()
    thread = page.locator("#thread-messages")
    inbound = thread.locator(".message.inbound")
    await expect(inbound).to_have_count(5)
    await expect(inbound.nth(0).locator(".text")).to_have_text("See you at 6")
    await expect(inbound.nth(0).locator(".edited-mark")).to_have_text("edited")
    await expect(inbound.nth(1).locator(".text")).to_have_text("🚫 This message was deleted")
    await expect(inbound.nth(1)).not_to_contain_text("1234")
    await expect(inbound.nth(2).locator(".flow-answers")).to_have_text("Delivery rating4Comment textFast, thanks")
    await expect(inbound.nth(2)).not_to_contain_text("AQAAAA")
    card = inbound.nth(3).locator(".referral-card")
    await expect(card).to_contain_text("From a click-to-WhatsApp ad")
    await expect(card.locator(".referral-headline")).to_have_text("Fresh mandazi every morning")
    await expect(card.locator(".referral-source")).to_have_attribute("href", "https://fb.me/3cr4Wqqkk")
    await expect(inbound.nth(3).locator(".text").last).to_have_text("Do you deliver?")
    await expect(inbound.nth(4).locator(".forwarded-mark")).to_have_text("↪ Forwarded")
    await expect(inbound.nth(0).locator(".forwarded-mark")).to_have_count(0)
    system = thread.locator(".message.system")
    await expect(system).to_have_text(re.compile(rf"^User A changed from {wa} to {new[1:]} · "))
    await expect(page.locator("#thread-subtitle")).to_contain_text(new)  # replies go to the new number
    await expect(thread.locator(".unsupported")).to_have_count(0)
    await screenshot(page, "identity-message-marks")


async def test_an_admin_merges_two_conversations_after_confirming(open_page: Any, web: Stack) -> None:
    sam, kim = await person(web, "Sam", admin=True), await person(web, "Kim", admin=True)
    phone, user_id = new_phone(), f"TZ.{uuid.uuid4().int % 10**18}"
    name = f"Zawadi {uuid.uuid4().hex[:4]}"
    await web.customer_writes(phone.lstrip("+"), "by number", name=name, timestamp=int(time.time()) - 30)
    r = await web.meta_post("/simulate/inbound", {"userId": user_id, "name": name, "text": "by user id only"})
    assert r["webhookStatus"] == 200
    other = f"Other {uuid.uuid4().hex[:4]}"
    await web.customer_writes(new_phone().lstrip("+"), "someone else", name=other)

    page = await signed_in(open_page, sam)
    watcher = await signed_in(open_page, kim)
    await expect(conversation_item(watcher, name)).to_have_count(2)
    await conversation_item(page, "by number").click()
    await expect(page.locator("#thread-subtitle")).to_contain_text(phone)
    await open_contact(page)
    await page.click("#merge-button")
    dialog = page.locator("#merge-dialog")
    await expect(dialog).to_be_visible()
    await page.fill("#merge-search", name)
    candidates = dialog.locator(".merge-candidate")
    await expect(candidates).to_have_count(1)  # the open conversation itself is not offered
    await expect(page.locator("#merge-submit")).to_be_disabled()
    await candidates.first.click()
    await expect(page.locator("#merge-confirm")).to_contain_text("This cannot be undone")
    await expect(page.locator("#merge-confirm")).to_contain_text(f"into “{name}”")
    # Cancelling merges nothing.
    await page.click("#merge-cancel")
    await expect(dialog).to_be_hidden()
    await expect(conversation_item(page, name)).to_have_count(2)

    await page.click("#merge-button")
    await page.fill("#merge-search", name)
    await dialog.locator(".merge-candidate").first.click()
    await page.click("#merge-submit")
    await expect(dialog).to_be_hidden()
    await expect(conversation_item(page, name)).to_have_count(1)
    thread = page.locator("#thread-messages")
    await expect(thread.locator(".message.inbound .text")).to_have_text(["by number", "by user id only"])
    await expect(thread.locator(".message.activity")).to_contain_text(re.compile(rf"{re.escape(sam.email)} merged"))
    await expect(fact(page, "conversations")).to_have_text("1")
    # Another admin's list loses the folded conversation live.
    await expect(conversation_item(watcher, name)).to_have_count(1)

    # Two conversations that are not one person are refused, with the reason.
    await page.click("#merge-button")
    await page.fill("#merge-search", other)
    await dialog.locator(".merge-candidate").first.click()
    await page.click("#merge-submit")
    await expect(page.locator("#merge-error")).to_contain_text("not one person")
    await page.click("#merge-cancel")


async def test_several_business_numbers_errors_and_unknown_webhooks(open_page: Any, web: Stack) -> None:
    sam = await person(web, "Sam", admin=True)
    phone = new_phone()
    name = f"Neema {uuid.uuid4().hex[:4]}"
    await web.customer_writes(phone.lstrip("+"), "to the bakery", name=name)
    detail = f"Your account is restricted {uuid.uuid4().hex[:6]}"
    errors = [{"code": 131031, "title": "Business Account locked", "error_data": {"details": detail}}]
    await post(web, {**value([]), "errors": errors})
    lost = str(1000000100 + uuid.uuid4().int % 10**6)
    await web.customer_writes(phone.lstrip("+"), "to a number nobody added", name=name, to=lost)

    page = await signed_in(open_page, sam)
    watcher = await signed_in(open_page, await person(web, "Kim", admin=True))
    numbers = (await sam.get("/api/numbers")).json()
    await page.click('[data-tab="team"]')
    section = page.locator("#whatsapp-admin")
    await expect(section).to_be_visible()
    await expect(page.locator("#account-error-rows")).to_contain_text(f"131031Business Account locked: {detail}")
    failure = page.locator("#webhook-failure-rows tr", has_text=lost)
    await expect(failure.locator(".failure-reason")).to_contain_text(f"business number {lost} is not one of")
    await failure.locator(".show-body").click()
    await expect(failure.locator(".webhook-body")).to_contain_text("to a number nobody added")

    # Adding the second number by hand (unless an earlier test did).
    if SECOND not in [n["id"] for n in numbers]:
        await page.fill("#number-id", SECOND)
        await page.fill("#number-name", "Café")
        await page.click("#number-submit")
        await expect(page.locator("#number-form-message")).to_contain_text("Café added")
    await expect(page.locator(f"#number-rows tr[data-number-id='{SECOND}'] .number-name")).to_be_visible()
    await page.fill("#number-id", SECOND)
    await page.fill("#number-name", "Again")
    await page.click("#number-submit")
    await expect(page.locator("#number-form-message")).to_contain_text("already added")

    # The kept webhook: add its number and apply it in one go.
    await failure.locator(".unknown-number-name").fill("Branch")
    await failure.locator(".add-unknown-number").click()
    await expect(page.locator("#webhook-failure-rows tr", has_text=lost)).to_have_count(0)
    await expect(page.locator(f"#number-rows tr[data-number-id='{lost}']")).to_contain_text("Branch")
    await screenshot(page, "identity-whatsapp-admin")

    await web.customer_writes(phone.lstrip("+"), "to the café", name=name, to=SECOND)
    await page.click('[data-tab="chat"]')
    rows = conversation_item(page, name)
    await expect(rows).to_have_count(3)
    tags = rows.locator(".number-tag")
    await expect(tags).to_have_count(3)
    names = {n["id"]: n["displayName"] for n in (await sam.get("/api/numbers")).json()}
    await expect(rows.filter(has_text="to the café").locator(".number-tag")).to_have_text(names[SECOND])
    await expect(rows.filter(has_text="to a number nobody added").locator(".number-tag")).to_have_text("Branch")
    # Another admin's dashboard, open since before the numbers were added, learns them live.
    kims = conversation_item(watcher, name)
    await expect(kims.filter(has_text="to a number nobody added").locator(".number-tag")).to_have_text("Branch")
    await expect(kims.filter(has_text="to the café").locator(".number-tag")).to_have_text(names[SECOND])
    await expect(watcher.locator("#number-filter")).to_be_visible()

    # The filter keeps one number's conversations, and the status counts follow it.
    select = page.locator("#number-filter")
    await expect(select).to_be_visible()
    await select.select_option(label="Branch")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("to a number nobody added")
    await expect(page.locator("#status-tabs [data-status='all'] .count")).to_have_text("1")
    await rows.click()
    await expect(page.locator("#thread-subtitle")).to_contain_text("on Branch")
    await open_contact(page)
    await expect(fact(page, "number")).to_have_text("Branch")
    await expect(fact(page, "conversations")).to_have_text("3")  # the same person on three numbers
    await select.select_option(label="All numbers")
    await expect(rows).to_have_count(3)

    # A new conversation starts from the number chosen in the dialog (the filter's, at first).
    fresh = new_phone()
    await select.select_option(label="Branch")
    await page.click("#new-conversation")
    picker = page.locator("#new-conversation-number")
    await expect(picker).to_be_visible()
    await expect(picker).to_have_value(lost)
    await picker.select_option(label=names[SECOND])
    await page.fill("#new-conversation-phone", fresh)
    await page.fill("#new-conversation-content", "Karibu to the café")
    await page.click("#new-conversation-submit")
    await expect(page.locator("#thread-subtitle")).to_contain_text(f"on {names[SECOND]}")

    async def sent() -> list[str]:
        return [q["path"] for q in await web.meta_requests() if q["json"] and q["json"].get("to") == fresh.lstrip("+")]

    assert await eventually(sent) == [f"/v21.0/{SECOND}/messages"]


async def test_a_deleted_last_message_says_so_in_the_list(open_page: Any, web: Stack) -> None:
    sam = await person(web, "Sam", admin=True)
    wa = new_phone().lstrip("+")
    name = f"Deleter {uuid.uuid4().hex[:6]}"  # the browser stack is shared: a name of its own
    secret = await web.customer_writes(wa, "my PIN is 1234", name=name)
    page = await signed_in(open_page, sam)
    preview = conversation_item(page, name).locator(".conv-preview")
    await expect(preview).to_have_text("my PIN is 1234")
    await post(web, value([message(wa, "revoke", {"original_message_id": secret})]))
    await expect(preview).to_have_text("🚫 This message was deleted")  # live
    await page.reload()
    await expect(conversation_item(page, name).locator(".conv-preview")).to_have_text("🚫 This message was deleted")
