"""The README's first five minutes, re-run in real Chromium against the demo as `make demo`
starts it: Sam takes Jordan from the queue (and Ana's dashboard lets him go), answers, and
Jordan answers back; Sam resolves; the admin retries Kwame's failed reply, and Fatuma's closed
window offers the template picker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.test_browser import DESKTOP, TIMEOUT_MS, browser  # noqa: F401 (fixture)
from tests.test_demo import DemoProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def signed_in(browser: Browser, url: str, email: str, password: str, errors: list[str]) -> Page:  # noqa: F811
    context = await browser.new_context(viewport=DESKTOP, base_url=url, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto("/")
    await page.fill("#login-email", email)
    await page.fill("#login-password", password)
    await page.click("#login-submit")
    await expect(page.locator("#connection-status")).to_have_attribute("data-mode", "live")
    return page


def item(page: Page, name: str) -> Any:
    return page.locator("#conversation-list .conversation-item", has_text=name)


async def test_first_five_minutes_of_the_readme(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    demo = DemoProcess(tmp_path, "--customer-interval", "1", "--status-delay", "0.05")
    errors: list[str] = []
    try:
        await demo.start()
        url, logins = demo.credentials()
        password = {email: pw for email, pw in logins}
        sam = await signed_in(browser, url, "sam@demo.local", password["sam@demo.local"], errors)
        ana = await signed_in(browser, url, "ana@demo.local", password["ana@demo.local"], errors)

        # 1. Sam's Mine has Ngozi; the queue has Jordan, in Ana's dashboard too.
        await expect(sam.locator("#user-name")).to_have_text("Sam")
        await expect(item(sam, "Ngozi")).to_be_visible()
        await expect(item(sam, "Jordan")).to_have_count(0)
        for page in (sam, ana):
            await page.locator('#list-views [data-view="unassigned"]').click()
            await expect(item(page, "Jordan")).to_be_visible()
        await item(sam, "Jordan").click()
        await sam.locator("#assignee-menu").select_option(label="Sam (me)")
        await expect(sam.locator("#thread-subtitle")).to_contain_text("Assigned to Sam")
        await expect(item(ana, "Jordan")).to_have_count(0)  # live, in the other dashboard

        # 2. Sam answers; the ticks go to read and Jordan writes back.
        inbound = sam.locator("#thread-messages .message.inbound")
        before = await inbound.count()
        await sam.locator("#composer-input").fill("Hi Jordan! Yes, we are open on public holidays, 8 to 2.")
        await sam.keyboard.press("Enter")
        reply = sam.locator("#thread-messages .message.outbound").last
        await expect(reply.locator(".status-tick")).to_have_attribute("data-status", "read", timeout=15_000)
        await expect(inbound).to_have_count(before + 1, timeout=20_000)

        # 3. Resolve.
        await sam.locator("#resolve-button").click()
        await expect(sam.locator("#thread-status")).to_have_text("Resolved")
        await expect(sam.locator("#resolve-button")).to_have_text("Reopen")
        await sam.locator('#list-views [data-view="mine"]').click()
        await sam.locator('#status-tabs [data-status="resolved"]').click()
        await expect(item(sam, "Jordan")).to_be_visible()

        # 5. The admin: Kwame's reply is red with WhatsApp's reason; Retry sends it.
        admin = await signed_in(browser, url, "admin@demo.local", password["admin@demo.local"], errors)
        await item(admin, "Kwame").click()
        failed = admin.locator("#thread-messages .message.outbound.failed")
        await expect(failed.locator(".failure-reason")).to_contain_text("WhatsApp could not deliver the message")
        await failed.locator(".retry-button").click()
        await expect(admin.locator("#thread-messages .message.outbound.failed")).to_have_count(0)
        await expect(admin.locator("#thread-messages .message.outbound .status-tick").last).to_have_attribute(
            "data-status", re.compile("^(delivered|read)$")
        )
        await item(admin, "Fatuma").click()
        await expect(admin.locator("#composer-notice")).to_contain_text("24-hour reply window is closed")
        await expect(admin.locator("#template-picker")).to_be_visible()
        for page in (sam, ana, admin):
            await page.context.close()
        await demo.interrupt()
    finally:
        await demo.kill()
    assert not errors, errors
    assert "Traceback" not in demo.output, demo.output
