"""The dashboard in a real browser: Debian's Chromium, headless, driven through Playwright.

Everything here asserts what a user sees on the page. The inbox server and the Meta stand-in
run on the session event loop of this very process, so only Playwright's async API works
(the sync one would block the loop the servers need). The browser tests need one database
kind only: they build their own SQLite stack.

Screenshots land in test-artifacts/; the README's docs/chat-tab.png is taken from the demo
itself by `python -m tests.demo_screenshot`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from server.auth import hash_password
from tests.servers import PASSWORD, Agent, Stack, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Debian's package (`make test` installs it); never Playwright's own download.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "chat-tab.png"
DESKTOP = {"width": 1200, "height": 750}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)

# Replaces WebSocket with one that never connects, the way a proxy that drops upgrades looks
# to the page: the socket errors and closes (1006) shortly after it is created.
NO_WEBSOCKETS = """
(() => {
  class BlockedWebSocket extends EventTarget {
    static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
    constructor(url) {
      super();
      this.url = String(url);
      this.readyState = 0;
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      window.__blockedSockets = (window.__blockedSockets || 0) + 1;
      setTimeout(() => {
        this.readyState = 3;
        const error = new Event('error');
        this.dispatchEvent(error);
        if (this.onerror) this.onerror(error);
        const close = new CloseEvent('close', { code: 1006, reason: '', wasClean: false });
        this.dispatchEvent(close);
        if (this.onclose) this.onclose(close);
      }, 10);
    }
    send() { throw new DOMException('not open', 'InvalidStateError'); }
    close() { this.readyState = 3; }
  }
  window.WebSocket = BlockedWebSocket;
})();
"""


# ---- fixtures ------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """An inbox server + Meta stand-in on SQLite for this module's tests."""
    async with database_url("sqlite", tmp_path_factory.mktemp("browser-db")) as url:
        async with stack(url) as s:
            yield s


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium package)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


class Watched:
    """A page plus what it did that a user would notice: dialogs and uncaught errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        # Refused requests (a wrong password's 401, an invalid invitation's 422) are logged by
        # Chromium itself as "Failed to load resource"; anything else logged as an error is ours.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")

    async def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()


@pytest.fixture
async def open_page(browser: Browser, web: Stack) -> AsyncIterator[Any]:
    """`await open_page(viewport=..., init_script=...)` -> Watched; closed after the test,
    which also fails if any page raised an uncaught error or opened a dialog."""
    contexts: list[BrowserContext] = []
    watched: list[Watched] = []

    async def make(viewport: dict[str, int] = DESKTOP, init_script: str | None = None) -> Watched:
        context = await browser.new_context(
            viewport=viewport, base_url=web.base_url, locale="en-GB", timezone_id="UTC", device_scale_factor=1
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        if init_script:
            await context.add_init_script(init_script)
        w = Watched(await context.new_page())
        watched.append(w)
        return w

    yield make
    for context in contexts:
        await context.close()
    for w in watched:
        assert not w.errors, f"uncaught errors on the page: {w.errors}"
        assert not w.dialogs, f"unexpected dialogs: {w.dialogs}"


async def login(page: Page, agent: Agent) -> None:
    """Signs in through the login form and waits for the chat tab."""
    await page.goto("/")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.fill("#login-email", agent.email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#chat-panel")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()


async def user_with_email(web: Stack, email: str) -> Agent:
    """Like Stack.user(), with an address of our choosing (it shows in the header)."""
    user_id = await web.app.state.store.create_user(email, await hash_password(PASSWORD), False)
    r = await web.http.post(f"{web.base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Agent(web, user_id, email, r.json()["token"])


async def invited(web: Stack, agent: Agent, name: str) -> str:
    """A fresh phone number invited by `agent`, so its conversation belongs to them."""
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": name, "phoneNumber": phone})
    assert r.status_code == 201, r.text
    return phone


def conversation_item(page: Page, text: str) -> Any:
    return page.locator("#conversation-list .conversation-item", has_text=text)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def live(page: Page) -> None:
    await expect(page.locator("#connection-status")).to_have_attribute("data-mode", "live")


# ---- tests ---------------------------------------------------------------------------------


async def test_login_form_shows_chat_tab(open_page: Any, web: Stack) -> None:
    w = await open_page()
    page = w.page
    agent = await web.user()

    await page.goto("/")
    await expect(page.locator("#app-view")).to_be_hidden()
    await page.fill("#login-email", agent.email)
    await page.fill("#login-password", "wrong password")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_be_visible()
    await expect(page.locator("#app-view")).to_be_hidden()

    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#chat-panel")).to_be_visible()
    await expect(page.locator("#user-email")).to_have_text(agent.email)
    await expect(page.locator('[data-tab="chat"]')).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#conversation-list-status")).to_have_text("No conversations yet.")
    await expect(page.locator("#thread-empty")).to_be_visible()
    await live(page)
    await expect(page.locator("#connection-status")).to_have_text("Live")
    await screenshot(page, "login-chat-tab")

    # A reload keeps the session (an HttpOnly cookie, tests/test_session_browser.py).
    await page.reload()
    await expect(page.locator("#chat-panel")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()

    await page.click("#logout")
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#app-view")).to_be_hidden()


async def test_customer_message_appears_live_with_unread_badge(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Neema")
    await login(page, agent)
    await live(page)

    await web.customer_writes(phone.lstrip("+"), "Is the shop open on Sunday?", name="Neema J.")

    item = conversation_item(page, "Neema")  # the invitation's name, not the profile's
    await expect(item).to_be_visible()
    await expect(item.locator(".conv-preview")).to_have_text("Is the shop open on Sunday?")
    await expect(item.locator(".unread-badge")).to_have_text("1")
    await expect(page).to_have_title("(1) WhatsApp Inbox")
    await screenshot(page, "unread-badge")

    await item.click()
    await expect(page.locator("#thread-title")).to_have_text("Neema")
    await expect(page.locator("#thread-subtitle")).to_contain_text(phone)
    await expect(page.locator("#thread-messages .message.inbound .text")).to_have_text("Is the shop open on Sunday?")
    await expect(item.locator(".unread-badge")).to_have_count(0)
    await expect(item).to_have_class(re.compile(r"\bactive\b"))
    await expect(page).to_have_title("WhatsApp Inbox")

    async def read_on_server() -> bool:
        conv = await agent.conversation_with(phone)
        return conv is not None and conv["unreadCount"] == 0

    assert await eventually(read_on_server), "the page did not mark the conversation read"

    # A second message into the open conversation shows up in the thread, and stays read.
    await web.customer_writes(phone.lstrip("+"), "And on Monday?", name="Neema J.")
    await expect(page.locator("#thread-messages .message.inbound .text").last).to_have_text("And on Monday?")
    await expect(item.locator(".conv-preview")).to_have_text("And on Monday?")
    await expect(item.locator(".unread-badge")).to_have_count(0)
    assert await eventually(read_on_server), "the open conversation did not stay read"


async def test_reply_from_composer_ticks_to_read(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Baraka")
    await web.customer_writes(phone.lstrip("+"), "Do you deliver to Arusha?", name="Baraka")
    # Statuses slow enough to watch, and "read" only when this test says so.
    await web.meta_post("/simulate/config", {"autoRead": False, "statusDelay": 0.2})
    try:
        await login(page, agent)
        await live(page)
        await conversation_item(page, "Baraka").click()
        await expect(page.locator("#thread-messages .message.inbound")).to_have_count(1)
        # Every status the reply's tick shows, in order, as the page renders it.
        await page.evaluate("""() => {
          window.__ticks = [];
          const record = () => {
            const tick = document.querySelector('#thread-messages .message.outbound .status-tick');
            const s = tick && tick.dataset.status;
            if (s && window.__ticks[window.__ticks.length - 1] !== s) window.__ticks.push(s);
          };
          new MutationObserver(record).observe(document.getElementById('thread-messages'),
                                               { childList: true, subtree: true, attributes: true });
        }""")

        composer = page.locator("#composer-input")
        await expect(composer).to_be_enabled()
        await composer.fill("Yes, on Tuesdays and Fridays.")
        await composer.press("Enter")
        await expect(composer).to_have_value("")

        bubble = page.locator("#thread-messages .message.outbound")
        await expect(bubble).to_have_count(1)
        await expect(bubble.locator(".text")).to_have_text("Yes, on Tuesdays and Fridays.")
        tick = bubble.locator(".status-tick")
        await expect(tick).to_have_attribute("data-status", "delivered")
        await expect(tick).to_have_text("✓✓")
        await expect(tick).to_have_css("color", "rgb(102, 119, 129)")  # grey: not read yet

        [reply] = [
            m
            for m in await agent.messages((await agent.conversation_with(phone))["id"])
            if m["direction"] == "outbound"
        ]
        await web.meta_post(
            "/simulate/status", {"wamid": reply["wamid"], "status": "read", "recipient": phone.lstrip("+")}
        )
        read_tick = page.locator('#thread-messages .message.outbound .status-tick[data-status="read"]')
        await expect(read_tick).to_be_visible()
        await expect(read_tick).to_have_css("color", "rgb(83, 189, 235)")  # WhatsApp's blue
        preview_tick = conversation_item(page, "Baraka").locator('.preview-tick[data-status="read"]')
        await expect(preview_tick).to_be_visible()

        ticks = await page.evaluate("window.__ticks")
        order = ["pending", "sent", "delivered", "read"]
        assert ticks[-1] == "read" and "delivered" in ticks, ticks
        assert [order.index(t) for t in ticks] == sorted(order.index(t) for t in ticks), ticks
        await screenshot(page, "reply-read")
    finally:
        await web.meta_post("/simulate/reset", {})


async def test_polling_fallback_without_websockets(open_page: Any, web: Stack) -> None:
    page = (await open_page(init_script=NO_WEBSOCKETS)).page
    agent = await web.user()
    phone = await invited(web, agent, "Polly")
    await login(page, agent)

    status = page.locator("#connection-status")
    await expect(status).to_have_text("Polling every 3 s")
    await expect(status).to_have_attribute("data-mode", "polling")
    assert await page.evaluate("window.__blockedSockets") >= 1

    started = time.monotonic()
    await web.customer_writes(phone.lstrip("+"), "Anyone there?", name="Polly")
    item = conversation_item(page, "Polly")
    await expect(item).to_be_visible(timeout=4500)
    await expect(item.locator(".unread-badge")).to_have_text("1")
    elapsed = time.monotonic() - started
    assert elapsed < 4.5, f"the polled message took {elapsed:.1f} s to show"

    # The open thread is polled too.
    await item.click()
    await expect(page.locator("#thread-messages .message.inbound .text")).to_have_text("Anyone there?")
    await web.customer_writes(phone.lstrip("+"), "Hello?", name="Polly")
    await expect(page.locator("#thread-messages .message.inbound .text").last).to_have_text("Hello?", timeout=4500)
    await expect(status).to_have_text("Polling every 3 s")
    await screenshot(page, "polling")


async def test_message_html_is_shown_as_text(open_page: Any, web: Stack) -> None:
    w = await open_page()
    page = w.page
    agent = await web.user()
    phone = await invited(web, agent, "<b>Mallory</b>")
    payload = "<img src=x onerror=alert(1)>"
    await web.customer_writes(phone.lstrip("+"), payload, name="<b>Mallory</b>")
    await login(page, agent)

    item = conversation_item(page, "<b>Mallory</b>")
    await expect(item.locator(".conv-name")).to_have_text("<b>Mallory</b>")
    await expect(item.locator(".conv-preview")).to_have_text(payload)
    await expect(item.locator("img, b")).to_have_count(0)
    await item.click()

    bubble = page.locator("#thread-messages .message.inbound .bubble")
    await expect(bubble.locator(".text")).to_have_text(payload)
    await expect(bubble.locator("img")).to_have_count(0)
    await expect(page.locator("#thread-title")).to_have_text("<b>Mallory</b>")
    await expect(page.locator("#thread-title b")).to_have_count(0)
    assert await bubble.locator(".text").evaluate("el => el.innerHTML") == "&lt;img src=x onerror=alert(1)&gt;"
    assert not w.dialogs, w.dialogs


async def test_phone_width_list_then_thread_and_back(open_page: Any, web: Stack) -> None:
    page = (await open_page(viewport=PHONE)).page
    agent = await web.user()
    phone = await invited(web, agent, "Zawadi")
    await web.customer_writes(phone.lstrip("+"), "Habari! Is the blue dress still available?", name="Zawadi")
    await login(page, agent)

    list_pane, thread_pane = page.locator(".list-pane"), page.locator(".thread-pane")
    item = conversation_item(page, "Zawadi")
    await expect(list_pane).to_be_visible()
    await expect(thread_pane).to_be_hidden()
    await expect(item).to_be_visible()
    box = await list_pane.bounding_box()
    assert box and box["width"] <= PHONE["width"] + 0.5, box
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "sideways scroll"
    await screenshot(page, "phone-list")

    await item.click()
    await expect(thread_pane).to_be_visible()
    await expect(list_pane).to_be_hidden()
    back = page.locator("#thread-back")
    await expect(back).to_be_visible()
    await expect(page.locator("#thread-messages .message.inbound .text")).to_have_text(
        "Habari! Is the blue dress still available?"
    )
    composer = page.locator("#composer-input")
    await expect(composer).to_be_visible()
    await composer.fill("Yes, in sizes M and L.")
    await page.locator("#composer-send").click()
    await expect(page.locator("#thread-messages .message.outbound .text")).to_have_text("Yes, in sizes M and L.")
    send_box = await page.locator("#composer-send").bounding_box()
    assert send_box and send_box["x"] + send_box["width"] <= PHONE["width"], send_box
    assert send_box["y"] + send_box["height"] <= PHONE["height"], send_box
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "sideways scroll"
    await screenshot(page, "phone-thread")

    await back.click()
    await expect(list_pane).to_be_visible()
    await expect(thread_pane).to_be_hidden()
    await expect(item.locator(".conv-preview")).to_contain_text("Yes, in sizes M and L.")


async def test_new_conversation_dialog(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = new_phone()
    await login(page, agent)

    await page.click("#new-conversation")
    dialog = page.locator("#new-conversation-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#new-conversation-phone")).to_be_focused()
    await page.fill("#new-conversation-phone", phone)
    await page.fill("#new-conversation-content", "Your parcel has arrived.")
    await page.click("#new-conversation-submit")

    await expect(dialog).to_be_hidden()
    await expect(page.locator("#thread-messages .message.outbound .text")).to_have_text("Your parcel has arrived.")
    await expect(page.locator("#thread-title")).to_have_text(phone)
    await expect(page.locator("#composer-notice")).to_contain_text("has not written to you yet")
    await expect(conversation_item(page, phone).locator(".conv-preview")).to_contain_text("Your parcel has arrived.")
    await expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)

    # Once the customer answers, the hint about templates goes away.
    await web.customer_writes(phone.lstrip("+"), "Thank you!")
    await expect(page.locator("#thread-messages .message.inbound .text")).to_have_text("Thank you!")
    await expect(page.locator("#composer-notice")).to_be_hidden()


async def test_invitations_add_one_and_import_csv(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    await login(page, agent)

    await page.click('[data-tab="invitations"]')
    await expect(page.locator("#invitations-panel")).to_be_visible()
    await expect(page.locator("#chat-panel")).to_be_hidden()
    await expect(page.locator("#invitation-list-status")).to_have_text("No invitations yet.")

    # An invalid number is refused with the server's message, and nothing is added.
    await page.fill("#invitation-name", "Typo")
    await page.fill("#invitation-phone", "12")
    await page.click("#invitation-submit")
    await expect(page.locator("#invitation-error")).to_be_visible()
    await expect(page.locator("#invitation-rows tr")).to_have_count(0)

    phone = new_phone()
    await page.fill("#invitation-name", "Amina Hassan")
    await page.fill("#invitation-phone", phone)
    await page.click("#invitation-submit")
    row = page.locator("#invitation-rows tr", has_text="Amina Hassan")
    await expect(row).to_be_visible()
    await expect(row.locator(".inv-phone")).to_have_text(phone)
    await expect(row.locator(".inv-owner")).to_have_text("You")
    await expect(page.locator("#invitation-error")).to_be_hidden()
    await expect(page.locator("#invitation-name")).to_have_value("")

    a, b = new_phone(), new_phone()
    csv = f"name,phone\nJuma Mwita,{a}\nRehema,{b}\nBroken,not a number\n"
    await page.set_input_files(
        "#invitation-csv", files=[{"name": "invitations.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    await page.click("#invitation-import")
    await expect(page.locator("#invitation-import-result .import-summary")).to_have_text(
        "Imported 2 invitations, 1 line skipped."
    )
    await expect(page.locator("#invitation-import-result .import-errors li")).to_have_count(1)
    await expect(page.locator("#invitation-import-result .import-errors li")).to_contain_text("Line 4")
    await expect(page.locator("#invitation-rows tr")).to_have_count(3)
    await expect(page.locator("#invitation-rows tr", has_text="Juma Mwita").locator(".inv-phone")).to_have_text(a)
    await expect(page.locator("#invitation-rows tr", has_text="Rehema").locator(".inv-phone")).to_have_text(b)
    await screenshot(page, "invitations")

    r = await agent.get("/api/invitations")
    assert sorted(i["name"] for i in r.json()) == ["Amina Hassan", "Juma Mwita", "Rehema"]


async def test_realistic_chat_tab_screenshot(open_page: Any, web: Stack) -> None:
    """A few conversations as a shop would have them; the picture is docs/chat-tab.png."""
    agent = await user_with_email(web, "shop@example.com")
    people = {
        name: await invited(web, agent, name) for name in ("Asha Mrema", "Joseph Kimaro", "Grace Njoroge", "Daudi Said")
    }
    try:

        async def writes(name: str, text: str) -> None:
            await web.customer_writes(people[name].lstrip("+"), text, name=name)

        async def reply(name: str, text: str) -> None:
            r = await agent.send(phoneNumber=people[name], content=text)
            assert r.status_code == 201, r.text

        await writes("Daudi Said", "Thanks, got it!")
        await writes("Grace Njoroge", "Can I pay with M-Pesa?")
        conv = await agent.conversation_with(people["Grace Njoroge"])
        assert (await agent.post(f"/api/conversations/{conv['id']}/read")).status_code == 200
        await reply("Grace Njoroge", "Yes, M-Pesa and card both work.")
        await writes("Joseph Kimaro", "Hello, do you have the 5 kg rice bags?")
        await writes("Joseph Kimaro", "I need 3 of them.")
        await writes("Asha Mrema", "Habari! Is my order ready for pickup?")
        await reply("Asha Mrema", "Habari Asha! Yes, it is packed and waiting at the counter.")
        await writes("Asha Mrema", "Great, I'll come by at 4 pm. Can I bring a friend's parcel slip too?")

        page = (await open_page()).page
        await login(page, agent)
        await live(page)
        await expect(page.locator("#conversation-list .conversation-item")).to_have_count(4)
        await expect(conversation_item(page, "Joseph Kimaro").locator(".unread-badge")).to_have_text("2")
        await conversation_item(page, "Asha Mrema").click()
        await expect(page.locator("#thread-messages .message")).to_have_count(3)
        await expect(page.locator("#composer-input")).to_be_focused()

        # The earlier reply has been read (blue ticks); this one stays at delivered (grey).
        await expect(page.locator('#thread-messages .status-tick[data-status="read"]')).to_have_count(1)
        await web.meta_post("/simulate/config", {"autoRead": False, "statusDelay": 0.01})
        await page.locator("#composer-input").fill("Sure, bring it along.")
        await page.keyboard.press("Enter")
        await expect(page.locator("#thread-messages .message")).to_have_count(4)
        await expect(page.locator("#thread-messages .message.outbound .status-tick").last).to_have_attribute(
            "data-status", "delivered"
        )
        await expect(conversation_item(page, "Asha Mrema").locator(".unread-badge")).to_have_count(0)
        await page.locator("#composer-input").blur()
        await screenshot(page, "chat-tab")
    finally:
        await web.meta_post("/simulate/reset", {})
