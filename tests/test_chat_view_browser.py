"""What people expect of a chat view, in real Chromium: a file is checked in a preview (picked,
dropped or pasted) before it goes, with a caption the agent writes; a "newest messages" button
with a count while scrolled up; an emoji picker; a photo viewer with arrow keys; links in text
that open safely and never inject HTML."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.servers import Agent, Stack, database_url, stack
from tests.test_browser import PHONE, browser, conversation_item, invited, live, login, open_page, screenshot  # noqa: F401
from tests.test_media_browser import png, register

pytestmark = pytest.mark.asyncio(loop_scope="session")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b"0" * 2000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with database_url("sqlite", tmp_path_factory.mktemp("chat-view-db")) as url:
        async with stack(
            url, media_dir=str(tmp_path_factory.mktemp("chat-view-files")), media_retry_delays=(0.05,)
        ) as s:
            yield s


async def open_chat(open_page: Any, web: Stack, name: str, text: str = "hello") -> tuple[Page, Agent, str]:
    agent = await web.user()
    phone = await invited(web, agent, name)
    await web.customer_writes(phone.lstrip("+"), text, name=name)
    page = (await open_page()).page
    await login(page, agent)
    await live(page)
    await conversation_item(page, name).click()
    await expect(page.locator("#thread-messages .message.inbound")).to_have_count(1)
    return page, agent, phone


async def files_sent_to(web: Stack, phone: str) -> list[dict[str, Any]]:
    return [
        q["json"]
        for q in web.meta.requests
        if q["json"] and q["json"].get("to") == phone.lstrip("+") and q["json"].get("type") in ("image", "document")
    ]


async def drop_or_paste(page: Page, how: str, name: str, mime: str, data: bytes) -> None:
    """A real DataTransfer with a File, dispatched as a drop on the thread or a paste."""
    await page.evaluate(
        """([how, name, mime, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, { type: mime }));
          if (how === 'drop') {
            const zone = document.getElementById('thread');
            for (const type of ['dragenter', 'dragover', 'drop']) {
              zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
          } else if (how === 'paste-thread') {
            document.getElementById('thread').dispatchEvent(
              new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
          } else {
            const input = document.getElementById('composer-input');
            input.focus();
            input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
          }
        }""",
        [how, name, mime, base64.b64encode(data).decode()],
    )


async def test_a_picked_file_waits_in_a_preview_with_its_caption(open_page: Any, web: Stack, tmp_path: Any) -> None:
    page, _, phone = await open_chat(open_page, web, "Lukas", "Can you send the menu?")
    menu = tmp_path / "menu.pdf"
    menu.write_bytes(PDF)
    composer = page.locator("#composer-input")
    await composer.fill("Here is our menu")
    await page.locator("#composer-file").set_input_files(str(menu))

    preview = page.locator("#attach-preview")
    await expect(preview).to_be_visible()
    await expect(page.locator("#attach-name")).to_have_text("menu.pdf")
    await expect(page.locator("#attach-size")).to_have_text("2.0 KB")
    await expect(page.locator("#attach-thumb")).to_be_hidden()  # not an image: name and size
    await expect(page.locator("#attach-caption")).to_have_value("Here is our menu")  # prefilled, not taken
    await page.wait_for_timeout(1500)  # the PDF of the issue left after one second: not any more
    await expect(page.locator("#thread-messages .message.outbound")).to_have_count(0)
    assert await files_sent_to(web, phone) == []

    # Cancel: nothing sent, the typed text still in the text box.
    await page.locator("#attach-cancel").click()
    await expect(preview).to_be_hidden()
    await expect(composer).to_have_value("Here is our menu")
    await expect(page.locator("#thread-messages .message.outbound")).to_have_count(0)

    # Again, with an edited caption: sent once, the text box emptied (its text went along).
    await page.locator("#composer-file").set_input_files(str(menu))
    await page.locator("#attach-caption").fill("The menu for Saturday")
    await screenshot(page, "attach-preview-document")
    await page.locator("#attach-send").click()
    await expect(preview).to_be_hidden()
    sent = page.locator("#thread-messages .message.outbound")
    await expect(sent).to_have_count(1)
    await expect(sent.locator(".filename")).to_have_text("menu.pdf")
    await expect(sent.locator(".caption")).to_have_text("The menu for Saturday")
    await expect(composer).to_have_value("")
    [call] = await files_sent_to(web, phone)
    assert call["document"]["caption"] == "The menu for Saturday" and call["document"]["filename"] == "menu.pdf"


async def test_dropped_and_pasted_images_open_the_same_preview(open_page: Any, web: Stack) -> None:
    page, _, phone = await open_chat(open_page, web, "Amina", "What does it look like?")
    await drop_or_paste(page, "drop", "cake.png", "image/png", png(rgb=(250, 200, 210)))
    thumb = page.locator("#attach-thumb")
    await expect(thumb).to_be_visible()
    assert await thumb.evaluate("img => img.complete && img.naturalWidth") == 48
    await expect(page.locator("#attach-name")).to_have_text("cake.png")
    await expect(page.locator("#attach-caption")).to_be_focused()
    await page.keyboard.press("Escape")  # Esc cancels like the button
    await expect(page.locator("#attach-preview")).to_be_hidden()
    assert await files_sent_to(web, phone) == []

    # Pasted while reading the thread (not in the text box): the same preview.
    await drop_or_paste(page, "paste-thread", "shot.png", "image/png", png(rgb=(90, 90, 90)))
    await expect(page.locator("#attach-name")).to_have_text("shot.png")
    await page.locator("#attach-cancel").click()
    await expect(page.locator("#attach-preview")).to_be_hidden()

    await drop_or_paste(page, "paste", "image.png", "image/png", png(rgb=(20, 120, 220)))
    await expect(thumb).to_be_visible()
    await page.locator("#attach-caption").fill("This one")
    await page.keyboard.press("Enter")
    sent = page.locator("#thread-messages .message.outbound")
    await expect(sent.locator("img.media-image")).to_be_visible()
    await expect(sent.locator(".caption")).to_have_text("This one")
    [call] = await files_sent_to(web, phone)
    assert call["type"] == "image" and call["image"]["caption"] == "This one"
    # A text paste stays text.
    await page.locator("#composer-input").focus()
    await page.evaluate(
        """() => { const dt = new DataTransfer(); dt.setData('text/plain', 'x');
          document.getElementById('composer-input').dispatchEvent(
            new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })); }"""
    )
    await expect(page.locator("#attach-preview")).to_be_hidden()


async def test_newest_button_counts_messages_while_scrolled_up(open_page: Any, web: Stack) -> None:
    page, _, phone = await open_chat(open_page, web, "Jordan", "first")
    for i in range(25):
        await web.customer_writes(phone.lstrip("+"), f"line {i}\n" * 3, name="Jordan")
    await expect(page.locator("#thread-messages .message.inbound")).to_have_count(26)
    button = page.locator("#scroll-bottom")
    await expect(button).to_be_hidden()  # at the newest already

    await page.locator("#thread").evaluate("t => { t.scrollTop = 0; }")
    await expect(button).to_be_visible()
    await expect(button.locator(".scroll-count")).to_be_hidden()
    await web.customer_writes(phone.lstrip("+"), "are you there?", name="Jordan")
    await web.customer_writes(phone.lstrip("+"), "hello??", name="Jordan")
    await expect(button.locator(".scroll-count")).to_have_text("2")
    await expect(button).to_have_attribute("aria-label", "2 new messages: scroll to the newest")
    assert await page.locator("#thread").evaluate("t => t.scrollTop") < 100  # the agent's place is kept
    await screenshot(page, "scroll-bottom")

    await button.click()
    await expect(button).to_be_hidden()
    await expect(page.locator("#thread-messages .message.inbound").last).to_be_in_viewport()
    # At the bottom, new messages scroll in and are not counted.
    await web.customer_writes(phone.lstrip("+"), "ok thanks", name="Jordan")
    await expect(page.locator("#thread-messages .message.inbound .text").last).to_have_text("ok thanks")
    await expect(page.locator("#thread-messages .message.inbound").last).to_be_in_viewport()
    await expect(button).to_be_hidden()


async def test_emoji_picker_inserts_at_the_caret(open_page: Any, web: Stack) -> None:
    page, _, _ = await open_chat(open_page, web, "Ngozi")
    composer = page.locator("#composer-input")
    await composer.fill("See you !")
    await composer.evaluate("t => t.setSelectionRange(8, 8)")
    await page.locator("#emoji-button").click()
    panel = page.locator("#emoji-panel")
    await expect(panel).to_be_visible()
    await panel.get_by_role("button", name="👋").click()
    await expect(composer).to_have_value("See you 👋!")
    await expect(composer).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await page.keyboard.press("Enter")
    await expect(page.locator("#thread-messages .message.outbound .text")).to_have_text("See you 👋!")
    # On a phone the picker fits the screen.
    await page.set_viewport_size(PHONE)
    await page.locator("#emoji-button").click()
    await expect(panel).to_be_visible()
    box = await panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


async def test_photo_viewer_arrow_keys_and_escape(open_page: Any, web: Stack) -> None:
    page, _, phone = await open_chat(open_page, web, "Kwame", "photos coming")
    for caption, rgb in (("red", (220, 30, 30)), ("green", (30, 200, 30)), ("blue", (30, 30, 220))):
        media_id = await register(web, png(rgb=rgb), "image/png")
        await web.customer_writes(
            phone.lstrip("+"),
            name="Kwame",
            type="image",
            image={"id": media_id, "mime_type": "image/png", "caption": caption},
        )
    images = page.locator("#thread-messages img.media-image")
    await expect(images).to_have_count(3)
    for i in range(3):
        await expect(images.nth(i)).to_be_visible()

    await images.nth(1).click()
    viewer = page.locator("#photo-viewer")
    await expect(viewer).to_be_visible()
    await expect(page.locator("#photo-viewer-counter")).to_have_text("2 / 3")
    await expect(page.locator("#photo-viewer-caption")).to_have_text("green")
    big = page.locator("#photo-viewer-image")
    assert await big.evaluate("img => img.getBoundingClientRect().width") > 200  # large, not the thumbnail
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#photo-viewer-caption")).to_have_text("blue")
    await page.keyboard.press("ArrowRight")  # the last one: stays
    await expect(page.locator("#photo-viewer-counter")).to_have_text("3 / 3")
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowLeft")
    await expect(page.locator("#photo-viewer-caption")).to_have_text("red")
    assert (await big.get_attribute("src") or "").endswith(await images.nth(0).get_attribute("src") or "-")
    await screenshot(page, "photo-viewer")
    await page.keyboard.press("Escape")
    await expect(viewer).to_be_hidden()


async def test_links_open_safely_and_never_inject(open_page: Any, web: Stack) -> None:
    text = (
        "Menu: https://bakery.example/menu?day=sat&x=1. Map (https://maps.example/a_(b)) "
        'no javascript:alert(1) <a href="https://evil.example">x</a> <img src=x onerror=alert(1)>'
    )
    page, _, _ = await open_chat(open_page, web, "Grace", text)
    body = page.locator("#thread-messages .message.inbound .text")
    await expect(body).to_have_text(text)  # every character shown as text
    links = body.locator("a")
    await expect(links).to_have_count(3)
    assert [await links.nth(i).get_attribute("href") for i in range(3)] == [
        "https://bakery.example/menu?day=sat&x=1",  # the full stop after it is the sentence's
        "https://maps.example/a_(b)",  # its own brackets kept, the sentence's dropped
        "https://evil.example/",  # a link shown as the text it is, not the markup around it
    ]
    assert await links.nth(0).text_content() == "https://bakery.example/menu?day=sat&x=1"
    assert await links.nth(1).text_content() == "https://maps.example/a_(b)"
    for i in range(3):
        assert await links.nth(i).get_attribute("target") == "_blank"
        assert await links.nth(i).get_attribute("rel") == "noopener noreferrer"
        assert (await links.nth(i).get_attribute("href") or "").startswith("https://")
    await expect(body.locator("img")).to_have_count(0)  # no element came from the text
