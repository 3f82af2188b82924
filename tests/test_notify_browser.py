"""Notifications in real Chromium: the chime and the desktop notification fire for a customer
message in another conversation and not for the one on screen; the favicon carries the
unread count; a click opens the conversation; mentions notify; two tabs notify once; the
permission is asked only from a click; preferences are kept on the server.

The page's Notification and OscillatorNode are wrapped by an init script that records what
the page asked for (what the user would see or hear); everything else is the real page.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from server.auth import hash_password
from tests.servers import PASSWORD, Agent, Stack, eventually
from tests.test_browser import browser, conversation_item, live, login, open_page, screenshot, web

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["browser", "open_page", "web"]

# Records notifications and tones; `__hidden` switches document.visibilityState, the way
# a tab in the background (or a minimised window) reports it.
HOOKS = """
(() => {
  window.__notifications = [];
  window.__tones = 0;
  window.__asked = 0;
  window.__hidden = false;
  const Real = window.Notification;
  if (Real) {
    class Recorded extends Real {
      constructor(title, options = {}) {
        window.__notifications.push({ title, body: options.body, tag: options.tag });
        super(title, options);
        window.__notifications[window.__notifications.length - 1].n = this;
      }
    }
    Recorded.requestPermission = () => { window.__asked++; return Promise.resolve(Real.permission); };
    window.Notification = Recorded;
  }
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) { window.__tones++; return start.apply(this, args); };
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
  Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__hidden });
  window.__setHidden = (hidden) => { window.__hidden = hidden; document.dispatchEvent(new Event('visibilitychange')); };
})();
"""
TONES_PER_CHIME = 2


async def person(web: Stack, name: str, admin: bool = False) -> Agent:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = await web.app.state.store.create_user(email, await hash_password(PASSWORD), admin, name)
    r = await web.http.post(f"{web.base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Agent(web, user_id, email, r.json()["token"])


async def customer_of(web: Stack, agent: Agent, name: str, text: str) -> str:
    phone = "+2557" + str(uuid.uuid4().int % 10**8).zfill(8)
    r = await agent.post("/api/invitations", {"name": name, "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await web.customer_writes(phone.lstrip("+"), text, name=name)
    return phone


async def page_for(open_page: Any, agent: Agent, grant: bool = True) -> Page:
    w = await open_page(init_script=HOOKS)
    if grant:
        await w.page.context.grant_permissions(["notifications"])
    await login(w.page, agent)
    await live(w.page)
    return w.page


async def notifications(page: Page) -> list[dict[str, Any]]:
    return await page.evaluate("window.__notifications.map(({ title, body, tag }) => ({ title, body, tag }))")


async def tones(page: Page) -> int:
    return await page.evaluate("window.__tones")


async def test_another_conversation_rings_and_notifies_the_one_on_screen_does_not(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Asha")
    amina = await customer_of(web, ana, "Amina", "Good morning")
    baraka = await customer_of(web, ana, "Baraka", "Hello there")
    page = await page_for(open_page, ana)
    await expect(page.locator("#notify-banner")).to_have_count(0)  # permission granted: nothing to offer
    await conversation_item(page, "Amina").click()
    await expect(page.locator("#thread-title")).to_have_text("Amina")

    # The conversation on screen: shown, not rung. Then another one: rung once, not shown
    # as a desktop notification (the tab is visible). Events are handled in order, so once
    # Baraka's chime is heard Amina's decision was made.
    await web.customer_writes(amina.lstrip("+"), "Is the cake ready?", name="Amina")
    await expect(page.locator("#thread-messages .message.inbound .text").last).to_have_text("Is the cake ready?")
    await web.customer_writes(baraka.lstrip("+"), "Do you deliver to Mikocheni?", name="Baraka")
    await expect(conversation_item(page, "Baraka").locator(".unread-badge")).to_be_visible()
    await decisions(page, 2)
    assert await tones(page) == TONES_PER_CHIME
    assert await notifications(page) == []
    # The favicon carries the unread count (the title's).
    await expect(page).to_have_title("(1) WhatsApp Inbox")
    icon = page.locator('link[rel="icon"]')
    await expect(icon).to_have_attribute("data-unread", "1")
    assert (await icon.get_attribute("href") or "").startswith("data:image/png")

    # In the background: a desktop notification naming the customer, with the first line.
    await page.evaluate("window.__setHidden(true)")
    await web.customer_writes(baraka.lstrip("+"), "Second floor, blue gate\nCall when outside", name="Baraka")
    assert await eventually(lambda: _notified(page, 1))
    first = (await notifications(page))[0]
    assert first["title"] == "Baraka"
    assert first["body"] == "Second floor, blue gate"
    # Clicking it opens that conversation.
    await page.evaluate("window.__setHidden(false)")
    await page.evaluate("window.__notifications[0].n.onclick()")
    await expect(page.locator("#thread-title")).to_have_text("Baraka")
    await expect(page.locator("#thread-messages .message.inbound .text").last).to_have_text(
        "Second floor, blue gate\nCall when outside"
    )
    await expect(icon).to_have_attribute("data-unread", "0")
    await screenshot(page, "notify-favicon")


async def test_a_mention_notifies(open_page: Any, web: Stack) -> None:
    boss, ana = await person(web, "Bosco", admin=True), await person(web, "Imani")
    await customer_of(web, ana, "Neema", "Where is my order?")
    page = await page_for(open_page, ana)
    await page.evaluate("window.__setHidden(true)")
    conv = (await ana.conversations())[0]
    r = await boss.post(f"/api/conversations/{conv['id']}/notes", {"content": "@imani please call her back\nthanks"})
    assert r.status_code == 201, r.text
    assert await eventually(lambda: _notified(page, 1))
    shown = (await notifications(page))[0]
    assert shown["title"] == "Bosco mentioned you (Neema)"
    assert shown["body"] == "@imani please call her back"


async def test_two_tabs_of_one_user_notify_once(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Tabitha")
    juma = await customer_of(web, ana, "Juma", "Hi")
    zuri = await customer_of(web, ana, "Zuri", "Hi")
    first = await page_for(open_page, ana)
    # A second tab of the same browser (same context): signed in already, by the session cookie.
    second = await first.context.new_page()
    await second.goto("/")
    await live(second)
    for page in (first, second):
        await page.evaluate("window.__setHidden(true)")
    await web.customer_writes(juma.lstrip("+"), "Are you open today?", name="Juma")
    await web.customer_writes(zuri.lstrip("+"), "Price of the red one?", name="Zuri")

    async def both_told() -> bool:
        titles = [n["title"] for p in (first, second) for n in await notifications(p)]
        return sorted(titles) == ["Juma", "Zuri"]

    assert await eventually(both_told)
    # One tab told both, the other none; and the chime rang in one tab only.
    counts = sorted([len(await notifications(first)), len(await notifications(second))])
    assert counts == [0, 2]
    assert sorted([await tones(first), await tones(second)])[0] == 0


async def test_the_other_tab_looking_at_it_counts_as_looking(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Wanjiru")
    kito = await customer_of(web, ana, "Kito", "Hi")
    lulu = await customer_of(web, ana, "Lulu", "Hi")
    first = await page_for(open_page, ana)
    second = await first.context.new_page()
    await second.goto("/")  # the same browser: signed in already
    await live(second)
    await conversation_item(second, "Kito").click()
    await expect(second.locator("#thread-title")).to_have_text("Kito")
    await first.evaluate("window.__setHidden(true)")
    await web.customer_writes(kito.lstrip("+"), "I am outside", name="Kito")
    await expect(second.locator("#thread-messages .message.inbound .text").last).to_have_text("I am outside")
    await web.customer_writes(lulu.lstrip("+"), "Hello?", name="Lulu")

    async def both_decided() -> bool:
        return await _decisions(first) + await _decisions(second) == 2

    assert await eventually(both_decided)
    # Kito's message was on screen in the second tab: only Lulu's rang (once), and with a
    # tab visible there is no desktop notification at all.
    assert await tones(first) + await tones(second) == TONES_PER_CHIME
    assert await notifications(first) == [] and await notifications(second) == []


async def test_permission_is_asked_from_the_banner_only_and_preferences_are_kept(open_page: Any, web: Stack) -> None:
    ana = await person(web, "Rehema")
    zawadi = await customer_of(web, ana, "Zawadi", "Hi")
    other = await customer_of(web, ana, "Omari", "Hi")
    page = await page_for(open_page, ana, grant=False)
    banner = page.locator("#notify-banner")
    await expect(banner).to_be_visible()
    assert await page.evaluate("window.__asked") == 0  # never on page load
    await page.click("#notify-enable")
    assert await eventually(lambda: _evaluates(page, "window.__asked === 1"))

    # The bell's dialog: sound off is saved on the server and holds after a reload.
    await page.click("#notify-button")
    await expect(page.locator("#notify-dialog")).to_be_visible()
    await expect(page.locator("#notify-sound")).to_be_checked()
    await page.uncheck("#notify-sound")
    assert await eventually(lambda: _sound_saved(ana, False))
    await page.click("#notify-close")
    await page.reload()
    await live(page)
    await page.click("#notify-button")
    await expect(page.locator("#notify-sound")).not_to_be_checked()
    await page.click("#notify-close")
    await web.customer_writes(zawadi.lstrip("+"), "Anyone there?", name="Zawadi")
    await decisions(page, 1)
    # Sound back on: the next message rings, the earlier one did not.
    await page.click("#notify-button")
    await page.check("#notify-sound")
    assert await eventually(lambda: _sound_saved(ana, True))
    await page.click("#notify-close")
    await web.customer_writes(other.lstrip("+"), "Hello!", name="Omari")
    await decisions(page, 2)
    assert await tones(page) == TONES_PER_CHIME


async def decisions(page: Page, n: int) -> None:
    """Waits until the page has decided about `n` messages (rung, shown or let pass)."""
    await expect(page.locator("html")).to_have_attribute("data-notify-decisions", str(n))


async def _decisions(page: Page) -> int:
    return int(await page.evaluate("document.documentElement.dataset.notifyDecisions || 0"))


async def _notified(page: Page, n: int) -> bool:
    return len(await notifications(page)) >= n


async def _evaluates(page: Page, expression: str) -> bool:
    return bool(await page.evaluate(expression))


async def _sound_saved(agent: Agent, value: bool) -> bool:
    r = await agent.get("/api/me/preferences")
    return r.status_code == 200 and r.json()["sound"] is value
