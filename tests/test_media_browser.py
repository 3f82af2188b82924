"""Media and templates in a real browser (Debian's Chromium through Playwright), with the
same helpers as tests/test_browser.py: an inbound image shows inline (after a "downloading"
placeholder), a file is attached and sent, and a template goes into a closed window through
the picker."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.servers import Stack, database_url, new_phone, stack
from tests.test_browser import browser, invited, login, open_page, screenshot  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def png(width: int = 48, height: int = 32, rgb: tuple[int, int, int] = (37, 211, 102)) -> bytes:
    """A real (decodable) PNG, so the browser can draw it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """This module's inbox: its own media folder, quick download retries, a template account."""
    async with database_url("sqlite", tmp_path_factory.mktemp("media-browser-db")) as url:
        async with stack(
            url,
            media_dir=str(tmp_path_factory.mktemp("media-browser-files")),
            media_retry_delays=(0.05,),
            whatsapp_business_account_id="2000000002",
        ) as s:
            yield s


async def register(web: Stack, data: bytes, mime: str) -> str:
    r = await web.http.post(f"{web.meta_url}/simulate/media", content=data, headers={"Content-Type": mime})
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def test_inbound_image_shows_inline_after_downloading(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Photo Sender")
    await login(page, agent)
    await web.customer_writes(phone.lstrip("+"), "hi", name="Photo Sender")
    await page.locator("#conversation-list .conversation-item", has_text="Photo Sender").click()

    # The first download hangs, then fails; meanwhile the thread says it is on its way.
    await web.meta_post("/simulate/media-fail", {"times": 1, "stage": "download", "delay": 1.5})
    media_id = await register(web, png(), "image/png")
    await web.customer_writes(
        phone.lstrip("+"),
        name="Photo Sender",
        type="image",
        image={"id": media_id, "mime_type": "image/png", "caption": "The crack, here"},
    )
    bubble = page.locator("#thread-messages .message.inbound", has_text="The crack, here")
    await expect(bubble.locator('.media-placeholder[data-status="pending"]')).to_contain_text("downloading")
    image = bubble.locator("img.media-image")
    await expect(image).to_be_visible()  # swapped in live when the download is done
    await expect(bubble.locator(".media-placeholder")).to_have_count(0)
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 48
    assert await image.get_attribute("src") == f"/api/media/{media_id}"
    await screenshot(page, "inbound-image")

    # An id Meta no longer knows ends as "no longer available".
    await web.customer_writes(
        phone.lstrip("+"),
        name="Photo Sender",
        type="image",
        image={"id": "999000999", "mime_type": "image/png", "caption": "Old photo"},
    )
    old = page.locator("#thread-messages .message.inbound", has_text="Old photo")
    await expect(old.locator('.media-placeholder[data-status="unavailable"]')).to_contain_text("no longer available")


async def test_attach_sends_a_photo_with_the_typed_caption(open_page: Any, web: Stack, tmp_path: Any) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Buyer")
    await web.customer_writes(phone.lstrip("+"), "Can I see it?", name="Buyer")
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Buyer").click()

    photo = tmp_path / "dress.png"
    photo.write_bytes(png(rgb=(200, 40, 90)))
    await page.locator("#composer-input").fill("The blue one")
    await expect(page.locator("#composer-attach")).to_be_enabled()
    await page.locator("#composer-file").set_input_files(str(photo))
    # Nothing leaves before the agent checks it: the preview, the typed text as the caption.
    await expect(page.locator("#attach-preview")).to_be_visible()
    await expect(page.locator("#attach-caption")).to_have_value("The blue one")
    await expect(page.locator("#thread-messages .message.outbound")).to_have_count(0)
    await page.locator("#attach-send").click()
    sent = page.locator("#thread-messages .message.outbound", has_text="The blue one")
    image = sent.locator("img.media-image")
    await expect(image).to_be_visible()
    await expect(page.locator("#composer-input")).to_have_value("")
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 48
    [upload] = [u for u in web.meta.uploads if u["filename"] == "dress.png"]
    calls = [q for q in web.meta.requests if q["json"] and q["json"].get("type") == "image"]
    assert calls[-1]["json"]["image"] == {"id": upload["id"], "caption": "The blue one"}


async def test_template_into_a_closed_window_through_the_picker(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Late Customer")
    await web.customer_writes(
        phone.lstrip("+"), "Is my order ready?", name="Late Customer", timestamp=int(time.time()) - 26 * 3600
    )
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Late Customer").click()

    await expect(page.locator("#composer-notice")).to_contain_text("24-hour reply window is closed")
    await expect(page.locator("#composer-input")).to_be_disabled()
    await expect(page.locator("#composer-attach")).to_be_disabled()
    picker = page.locator("#template-picker")
    await expect(picker).to_be_visible()
    await expect(picker.locator("option", has_text="order_update (en)")).to_have_count(1)
    await expect(picker.locator("option", has_text="spring_sale")).to_have_count(0)  # not approved

    await picker.select_option(label="order_update (en)")
    params = page.locator("#template-params .template-param")
    await expect(params).to_have_count(2)
    preview = page.locator("#template-preview")
    await expect(preview).to_have_text("Hi {{1}}, your order {{2}} has shipped and is on its way.")
    await params.nth(0).fill("Asha")
    await params.nth(1).fill("#1042")
    await expect(preview).to_have_text("Hi Asha, your order #1042 has shipped and is on its way.")
    await screenshot(page, "template-picker")

    await page.locator("#template-send").click()
    sent = page.locator("#thread-messages .message.outbound").last
    await expect(sent.locator(".text")).to_have_text("Hi Asha, your order #1042 has shipped and is on its way.")
    await expect(sent.locator(".template-label")).to_contain_text("order_update")
    await expect(sent.locator(".status-tick")).not_to_have_attribute("data-status", "failed")
    await expect(page.locator("#template-params .template-param")).to_have_count(0)  # ready for the next one
    calls = [
        q
        for q in web.meta.requests
        if q["json"] and q["json"].get("type") == "template" and q["json"]["to"] == phone.lstrip("+")
    ]
    assert calls[-1]["json"]["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "#1042"}]}
    ]

    # The picker goes away once the customer writes again and the window is open.
    await web.customer_writes(phone.lstrip("+"), "Thanks!", name="Late Customer")
    await expect(page.locator("#template-composer")).to_be_hidden()
    await expect(page.locator("#composer-input")).to_be_enabled()


async def test_template_send_needs_every_parameter(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Quiet", "phoneNumber": phone})
    assert r.status_code == 201
    await web.customer_writes(phone.lstrip("+"), "hello", name="Quiet", timestamp=int(time.time()) - 30 * 3600)
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Quiet").click()
    await page.locator("#template-picker").select_option(label="appointment_reminder (en)")
    params = page.locator("#template-params .template-param")
    await expect(params).to_have_count(3)  # one in the header, two in the body
    await params.nth(0).fill("Asha")
    await page.locator("#template-send").click()
    await expect(page.locator("#template-error")).to_have_text("Fill in every parameter of the template.")
    await expect(page.locator("#thread-messages .message.outbound")).to_have_count(0)
