"""docs/chat-tab.png, the README's screenshot, taken from the demo as `make demo` runs it.

    .venv/bin/python -m tests.demo_screenshot [--out docs/chat-tab.png]

Starts `python -m server demo` in a scratch directory (its own database and ports), signs in
as the demo's admin in Debian's Chromium, answers Lukas (the customer with a photo and a voice
note) and photographs the WhatsApp Chat tab. Not a test: run it after changing the dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

from tests.servers import eventually
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, DOCS_SCREENSHOT
from tests.test_demo import DemoProcess


async def shoot(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo = DemoProcess(Path(tmp), "--customer-interval", "600", "--status-delay", "0.3")
        try:
            await demo.start()
            url, logins = demo.credentials()
            email, password = logins[0]
            async with httpx.AsyncClient(timeout=10) as http:

                async def photo_ready() -> bool:
                    r = await http.post(f"{url}/api/auth/login", json={"email": email, "password": password})
                    auth = {"Authorization": f"Bearer {r.json()['token']}"}
                    rows = (await http.get(f"{url}/api/conversations", headers=auth)).json()
                    lukas = next(c for c in rows if (c["contactName"] or "").startswith("Lukas"))
                    messages = (await http.get(f"{url}/api/conversations/{lukas['id']}/messages", headers=auth)).json()
                    return any(m["type"] == "image" and m["media"]["status"] == "ready" for m in messages)

                assert await eventually(photo_ready, timeout=20), demo.output
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport=DESKTOP, locale="en-GB", device_scale_factor=1)
                await page.goto(url)
                await page.fill("#login-email", email)
                await page.fill("#login-password", password)
                await page.click("#login-submit")
                await expect(page.locator("#connection-status")).to_have_attribute("data-mode", "live")
                not_now = page.get_by_role("button", name="Not now")  # the notifications offer
                if await not_now.count():
                    await not_now.first.click()
                await page.locator("#conversation-list .conversation-item", has_text="Lukas").click()
                await expect(page.locator("#thread-messages img.media-image")).to_be_visible()
                await page.locator("#composer-input").fill("Lovely design! Strawberries and 'Alles Gute, Mia!' it is.")
                await page.keyboard.press("Enter")
                await expect(page.locator("#thread-messages .message.outbound .status-tick").last).to_have_attribute(
                    "data-status", "read", timeout=15_000
                )
                await page.locator("#composer-input").blur()
                await page.wait_for_timeout(300)
                out.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(out))
                await browser.close()
            await demo.interrupt()
        finally:
            await demo.kill()
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS_SCREENSHOT)
    asyncio.run(shoot(parser.parse_args().out))


if __name__ == "__main__":
    main()
