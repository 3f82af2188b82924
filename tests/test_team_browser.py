"""The team inbox in real Chromium: views and status tabs, assigning and transferring (two
agents in two browser contexts watching it happen), Resolve / Snooze, labels, note mode and
mentions, the Team page, names instead of ids, and the shortcut list."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from server.auth import hash_password
from tests.servers import PASSWORD, Agent, Stack, eventually, new_phone
from tests.test_browser import browser, conversation_item, live, login, open_page, screenshot, web

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["browser", "open_page", "web"]  # fixtures shared with test_browser.py


async def person(web: Stack, name: str, admin: bool = False) -> Agent:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = await web.app.state.store.create_user(email, await hash_password(PASSWORD), admin, name)
    r = await web.http.post(f"{web.base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Agent(web, user_id, email, r.json()["token"])


async def customer_of(web: Stack, agent: Agent | None, name: str, text: str) -> str:
    phone = new_phone()
    if agent is not None:
        r = await agent.post("/api/invitations", {"name": name, "phoneNumber": phone})
        assert r.status_code == 201, r.text
    await web.customer_writes(phone.lstrip("+"), text, name=name)
    return phone


async def signed_in(open_page: Any, agent: Agent) -> Page:
    page = (await open_page()).page
    await login(page, agent)
    await live(page)
    return page


async def test_two_agents_watch_a_transfer(open_page: Any, web: Stack) -> None:
    ana, ben = await person(web, "Ana"), await person(web, "Ben")
    await customer_of(web, ana, "Fatuma", "Is my cake ready?")
    ana_page = await signed_in(open_page, ana)
    ben_page = await signed_in(open_page, ben)
    await expect(ana_page.locator("#user-name")).to_have_text("Ana")
    await expect(conversation_item(ben_page, "Fatuma")).to_have_count(0)

    await conversation_item(ana_page, "Fatuma").click()
    menu = ana_page.locator("#assignee-menu")
    await expect(menu).to_have_value(str(ana.id))
    await menu.select_option(label="Ben")

    # Ana's dashboard lets it go; Ben's receives it, live, with the history line.
    await expect(conversation_item(ana_page, "Fatuma")).to_have_count(0)
    await expect(ana_page.locator(".toast")).to_contain_text("assigned to someone else")
    await expect(ana_page.locator("#thread-view")).to_be_hidden()
    item = conversation_item(ben_page, "Fatuma")
    await expect(item).to_be_visible()
    await item.click()
    await expect(ben_page.locator("#assignee-menu")).to_have_value(str(ben.id))
    await expect(ben_page.locator("#thread-messages .message.activity")).to_have_text(
        re.compile(r"^Ana assigned this to Ben · ")
    )
    await expect(ben_page.locator("#thread-subtitle")).to_contain_text("Assigned to Ben")
    # The customer writes again: only Ben's dashboard shows it.
    phone = (await ben.conversations())[0]["phoneNumber"]
    await web.customer_writes(phone.lstrip("+"), "Hello?", name="Fatuma")
    await expect(ben_page.locator("#thread-messages .message.inbound .text").last).to_have_text("Hello?")
    await expect(conversation_item(ana_page, "Fatuma")).to_have_count(0)
    await screenshot(ben_page, "team-transfer")


async def test_views_status_tabs_resolve_snooze_and_labels(open_page: Any, web: Stack) -> None:
    admin, ana = await person(web, "Sam", admin=True), await person(web, "Ana")
    label = "vip" + uuid.uuid4().hex[:4]
    r = await admin.post("/api/labels", {"name": label, "color": "#d97706"})
    assert r.status_code == 201
    await customer_of(web, ana, "Kito", "Two loaves please")
    await customer_of(web, None, "Queue Person", "Anyone?")
    page = await signed_in(open_page, admin)

    views = page.locator("#list-views button")
    await expect(views).to_have_text(["Mine", "Unassigned", "All"])
    await expect(page.locator("#list-views button.active")).to_have_text("All")
    kito = conversation_item(page, "Kito")
    await expect(kito).to_be_visible()
    await expect(kito.locator(".assignee-tag")).to_have_text("Ana")  # a name, not an id
    await page.click('#list-views [data-view="unassigned"]')
    await expect(conversation_item(page, "Queue Person")).to_be_visible()
    await expect(kito).to_have_count(0)
    await page.click('#list-views [data-view="all"]')

    open_tab = page.locator('#status-tabs [data-status="open"] .count')
    resolved_tab = page.locator('#status-tabs [data-status="resolved"] .count')
    await expect(resolved_tab).to_be_visible()
    resolved_before = int(await resolved_tab.text_content() or "0")
    open_before = int(await open_tab.text_content() or "0")

    await kito.click()
    await page.click("#resolve-button")
    await expect(kito).to_have_count(0)  # the Open tab no longer lists it
    await expect(resolved_tab).to_have_text(str(resolved_before + 1))
    await expect(open_tab).to_have_text(str(open_before - 1))
    await expect(page.locator("#thread-status")).to_have_text("Resolved")
    await page.click('#status-tabs [data-status="resolved"]')
    await expect(kito).to_be_visible()
    await expect(page.locator("#resolve-button")).to_have_text("Reopen")

    # Snooze for an hour: it moves to the Snoozed tab.
    await page.click("#snooze-button")
    await page.click('#snooze-menu [data-snooze="1 hour"]')
    await expect(page.locator("#thread-status")).to_contain_text("Snoozed until")
    await expect(kito).to_have_count(0)
    await page.click('#status-tabs [data-status="snoozed"]')
    await expect(kito).to_be_visible()

    # A label from the thread header shows as a chip and filters the list.
    await page.locator("#label-add").select_option(label)
    await expect(page.locator(f'#thread-labels .label-chip[data-label="{label}"]')).to_be_visible()
    await expect(kito.locator(f'.label-chip[data-label="{label}"]')).to_be_visible()
    await page.click('#status-tabs [data-status="all"]')
    await page.locator("#label-filter").select_option(label)
    await expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)
    await expect(kito).to_be_visible()
    lines = page.locator("#thread-messages .message.activity")
    await expect(lines).to_have_count(3)
    await expect(lines.nth(0)).to_contain_text("Sam resolved this")
    await screenshot(page, "team-status-labels")


async def test_note_mode_and_mentions(open_page: Any, web: Stack) -> None:
    admin, ana = await person(web, "Boss", admin=True), await person(web, "Ana")
    await customer_of(web, ana, "Neema", "Where is my order?")
    admin_page = await signed_in(open_page, admin)
    page = await signed_in(open_page, ana)
    await conversation_item(page, "Neema").click()
    await page.click("#composer-note")
    await expect(page.locator("#thread-view")).to_have_attribute("data-composer", "note")
    await expect(page.locator("#composer-notice")).to_contain_text("never sent to the customer")
    await page.fill("#composer-input", "@boss can we refund this one?")
    await page.press("#composer-input", "Enter")
    note = page.locator("#thread-messages .message.note")
    await expect(note.locator(".text")).to_have_text("@boss can we refund this one?")
    await expect(note.locator(".note-author")).to_contain_text("Ana")
    # The boss is told, live; the customer is sent nothing.
    await expect(admin_page.locator(".toast")).to_contain_text("Ana mentioned you: @boss can we refund")
    sent = [q["json"] for q in await web.meta_requests() if (q.get("json") or {}).get("type") == "text"]
    assert not any("refund" in str(body) for body in sent), sent
    # Back to replying: the reply says who sent it.
    await page.click("#composer-note")
    await expect(page.locator("#thread-view")).to_have_attribute("data-composer", "reply")
    await page.fill("#composer-input", "It leaves today.")
    await page.press("#composer-input", "Enter")
    outbound = page.locator("#thread-messages .message.outbound")
    await expect(outbound.locator(".message-author")).to_have_text("Ana")
    await expect(conversation_item(page, "Neema").locator(".conv-preview")).to_contain_text("It leaves today.")
    await screenshot(page, "team-note")


async def test_team_page_and_deactivation(open_page: Any, web: Stack) -> None:
    admin = await person(web, "Chief", admin=True)
    page = await signed_in(open_page, admin)
    await page.click('[data-tab="team"]')
    email = f"zawadi-{uuid.uuid4().hex[:6]}@example.com"
    await page.fill("#new-user-name", "Zawadi")
    await page.fill("#new-user-email", email)
    await page.fill("#new-user-password", PASSWORD)
    await page.click("#new-user-submit")
    await expect(page.locator("#user-form-message")).to_have_text("Zawadi can now sign in.")
    row = page.locator("#user-rows tr", has_text=email)
    await expect(row).to_be_visible()

    # Zawadi signs in elsewhere, renames herself; the admin deactivates her and she is out.
    agent_page = (await open_page()).page
    await agent_page.goto("/")
    await agent_page.fill("#login-email", email)
    await agent_page.fill("#login-password", PASSWORD)
    await agent_page.click("#login-submit")
    await live(agent_page)
    await agent_page.click('[data-tab="team"]')
    await expect(agent_page.locator("#user-form")).to_be_hidden()
    await agent_page.fill("#account-name", "Zawadi M.")
    await agent_page.click("#account-submit")
    await expect(agent_page.locator("#account-message")).to_have_text("Saved.")
    await expect(agent_page.locator("#user-name")).to_have_text("Zawadi M.")

    await row.get_by_role("button", name="Deactivate Zawadi").click()
    await expect(row).to_have_attribute("data-active", "false")
    await expect(agent_page.locator("#login-form")).to_be_visible()
    r = await web.http.post(f"{web.base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 401


async def test_shortcut_list_behind_question_mark(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Ana")
    await customer_of(web, ana, "Juma", "Hi")
    page = await signed_in(open_page, ana)
    await page.locator("body").press("?")
    dialog = page.locator("#shortcuts-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Resolve (or reopen) the open conversation")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await page.locator("body").press("j")
    await expect(page.locator("#thread-title")).to_have_text("Juma")
    # Opening focuses the composer once the messages are in (after the title): wait for it,
    # or the Escape lands first and the "e" below is typed into the box.
    await expect(page.locator("#composer-input")).to_be_focused()
    await page.keyboard.press("Escape")  # out of the composer
    await expect(page.locator("#composer-input")).not_to_be_focused()
    await page.keyboard.press("e")

    async def resolved() -> bool:
        return (await ana.conversations(status="resolved")) != []

    assert await eventually(resolved)
