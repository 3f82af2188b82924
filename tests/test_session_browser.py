"""One login per browser, in real Chromium: new tabs and a restarted browser stay signed in,
the session cookie is out of the page's reach, the websocket carries no token in its URL, and
logging out (or the session expiring) in one place shows the login form in every tab."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright, expect

from server.auth import token_hash
from tests.servers import PASSWORD, Stack, database_url, stack
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, Watched, live

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A tab whose only news of a logout elsewhere is its own websocket being closed 4401.
NO_BROADCAST_CHANNEL = "delete window.BroadcastChannel;"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with database_url("sqlite", tmp_path_factory.mktemp("session-browser-db")) as url:
        async with stack(url) as s:
            yield s


@pytest_asyncio.fixture(loop_scope="session")
async def pw() -> AsyncIterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium package)")
    async with async_playwright() as p:
        yield p


async def open_browser(pw: Playwright, profile: Path, web: Stack) -> BrowserContext:
    """Chromium with a profile on disk, as a person's browser is: closing it and opening it
    again keeps what it keeps across a restart."""
    context = await pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        viewport=DESKTOP,
        base_url=web.base_url,
        locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


async def tab(context: BrowserContext, watched: list[Watched], init_script: str | None = None) -> Page:
    page = await context.new_page()
    if init_script:
        await page.add_init_script(init_script)
    watched.append(Watched(page))
    return page


async def signed_in(page: Page) -> None:
    await page.goto("/")
    await expect(page.locator("#chat-panel")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()
    await live(page)


async def test_one_login_for_every_tab_and_restart_and_one_logout_for_all(
    pw: Playwright, web: Stack, tmp_path: Path
) -> None:
    agent = await web.user()
    profile = tmp_path / "profile"
    watched: list[Watched] = []
    socket_urls: list[str] = []

    browser = await open_browser(pw, profile, web)
    first = await tab(browser, watched)
    first.on("websocket", lambda ws: socket_urls.append(ws.url))
    await first.goto("/")
    await expect(first.locator("#login-form")).to_be_visible()
    await first.fill("#login-email", agent.email)
    await first.fill("#login-password", PASSWORD)
    await first.click("#login-submit")
    await expect(first.locator("#chat-panel")).to_be_visible()
    await live(first)

    # The page cannot read the session; the browser keeps it past a restart.
    assert "inbox_session" not in await first.evaluate("document.cookie")
    [cookie] = [c for c in await browser.cookies() if c["name"] == "inbox_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0

    # A new tab: signed in, no password asked.
    second = await tab(browser, watched)
    second.on("websocket", lambda ws: socket_urls.append(ws.url))
    await signed_in(second)
    await browser.close()

    # The browser restarted: still signed in.
    browser = await open_browser(pw, profile, web)
    try:
        third = await tab(browser, watched)
        third.on("websocket", lambda ws: socket_urls.append(ws.url))
        await signed_in(third)
        await expect(third.locator("#user-email")).to_have_text(agent.email)
        old_school = await tab(browser, watched, NO_BROADCAST_CHANNEL)
        await signed_in(old_school)
        other = await tab(browser, watched)
        await signed_in(other)
        assert socket_urls and all("token" not in url for url in socket_urls), socket_urls

        # Log out in one tab: every tab shows the login form, also the one that only has its
        # websocket to tell it.
        await third.click("#logout")
        for page in (third, old_school, other):
            await expect(page.locator("#login-form")).to_be_visible()
            await expect(page.locator("#app-view")).to_be_hidden()
        await expect(old_school.locator("#login-error")).to_have_text("You signed out in another tab or window.")
        session_rows = "SELECT COUNT(*) FROM tokens WHERE user_id = :u AND kind = 'session'"
        before = await web.app.state.db.fetch_val(session_rows, u=agent.id)

        # Signing in again in one tab brings the others back (those that can hear it).
        await third.fill("#login-email", agent.email)
        await third.fill("#login-password", PASSWORD)
        await third.click("#login-submit")
        await expect(third.locator("#chat-panel")).to_be_visible()
        await expect(other.locator("#chat-panel")).to_be_visible()
        await live(other)
        assert await web.app.state.db.fetch_val(session_rows, u=agent.id) == before + 1  # one login, not one per tab

        # The session expires (idle too long): the tabs say so and show the login form.
        [cookie] = [c for c in await browser.cookies() if c["name"] == "inbox_session"]

        async def idle(tx: Any) -> None:
            sql = "UPDATE tokens SET last_used_at = 0, created_at = 0 WHERE token_hash = :h"
            await tx.execute(sql, h=token_hash(cookie["value"]))

        await web.app.state.db.write(idle)
        for page in (third, other):
            await expect(page.locator("#login-form")).to_be_visible()
            await expect(page.locator("#login-error")).to_have_text("Your session has expired. Please sign in again.")
    finally:
        await browser.close()
    for w in watched:
        assert not w.errors, f"uncaught errors on the page: {w.errors}"
        assert not w.dialogs, f"unexpected dialogs: {w.dialogs}"
