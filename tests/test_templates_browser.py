"""Templates in real Chromium: the picker at any time, a media header uploaded from the
picker, button parameters, a preview of what the customer will see (header image, body,
footer, buttons), a template paused by Meta gone from the picker without a sync, and "New
conversation" starting with a template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from server.fake_meta_templates import rich_templates
from tests.servers import Stack, database_url, new_phone, stack
from tests.test_browser import browser, invited, login, open_page, screenshot  # noqa: F401 (fixtures)
from tests.test_media_browser import png

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with database_url("sqlite", tmp_path_factory.mktemp("templates-browser-db")) as url:
        async with stack(
            url,
            media_dir=str(tmp_path_factory.mktemp("templates-browser-files")),
            whatsapp_business_account_id="2000000002",
        ) as s:
            s.meta.templates += rich_templates()
            await s.app.state.templates.sync()
            yield s


def template_calls(web: Stack, phone: str) -> list[dict[str, Any]]:
    return [
        q["json"]["template"]
        for q in web.meta.requests
        if q["json"] and q["json"].get("type") == "template" and q["json"]["to"] == phone.lstrip("+")
    ]


async def test_a_media_template_with_buttons_from_an_open_window(open_page: Any, web: Stack, tmp_path: Any) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Baker Fan")
    await web.customer_writes(phone.lstrip("+"), "Any bread today?", name="Baker Fan")
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Baker Fan").click()

    # The window is open: the picker waits behind its button.
    composer = page.locator("#template-composer")
    await expect(composer).to_be_hidden()
    await expect(page.locator("#composer-input")).to_be_enabled()
    await page.locator("#template-toggle").click()
    await expect(composer).to_be_visible()
    await page.locator("#template-picker").select_option(label="fresh_bread (en)")

    preview = page.locator("#template-preview")
    await expect(preview.locator(".template-preview-footer")).to_have_text("Reply STOP to opt out")
    await expect(preview.locator(".template-preview-button")).to_have_text(["Order now", "Copy code", "Not now"])
    photo = tmp_path / "loaf.png"
    photo.write_bytes(png(64, 40, (200, 150, 60)))
    await composer.locator(".template-header-file").set_input_files(str(photo))
    header = preview.locator("img.template-preview-media")
    await expect(header).to_be_visible()
    assert await header.evaluate("img => img.complete && img.naturalWidth") == 64
    params = composer.locator(".template-param")
    await params.nth(0).fill("Amina")
    await params.nth(1).fill("rye")
    await expect(preview.locator(".template-preview-body")).to_have_text(
        "Hi Amina, today's rye is out of the oven. Use the code below for 10% off."
    )
    # The button parameters are required where Meta requires them.
    await page.locator("#template-send").click()
    await expect(page.locator("#template-error")).to_have_text("Fill in the button “Order now”.")
    buttons = composer.locator(".template-button-param")
    await buttons.nth(0).fill("rye")
    await buttons.nth(1).fill("RYE10")
    await expect(preview.locator(".template-preview-button").nth(1)).to_have_text("Copy code RYE10")
    assert await preview.locator(".template-preview-button").nth(0).get_attribute("title") == (
        "https://bakery.example/order/rye"
    )
    await screenshot(page, "template-media-preview")
    await page.locator("#template-send").click()

    bubble = page.locator("#thread-messages .message.outbound").last
    await expect(bubble.locator(".template-label")).to_contain_text("fresh_bread")
    image = bubble.locator("img.media-image")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 64
    await expect(bubble.locator(".template-button")).to_have_text(["Order now", "Copy code RYE10", "Not now"])
    await expect(bubble.locator(".status-tick")).not_to_have_attribute("data-status", "failed")
    await expect(composer).to_be_hidden()  # opened by the agent: closes once sent

    [upload] = [u for u in web.meta.uploads if u["filename"] == "loaf.png"]
    [sent] = template_calls(web, phone)
    assert sent["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": upload["id"]}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Amina"}, {"type": "text", "text": "rye"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "rye"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "1",
            "parameters": [{"type": "coupon_code", "coupon_code": "RYE10"}],
        },
    ]


async def test_a_template_paused_by_meta_leaves_the_picker(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = await invited(web, agent, "Regular")
    await web.customer_writes(phone.lstrip("+"), "hello", name="Regular")
    await login(page, agent)
    await page.locator("#conversation-list .conversation-item", has_text="Regular").click()
    picker = page.locator("#template-picker")
    await page.locator("#template-toggle").click()
    await expect(picker.locator("option", has_text="shop_tour (en)")).to_have_count(1)
    await page.locator("#template-toggle").click()  # closed again

    r = await web.meta_post("/simulate/template-status", {"name": "shop_tour", "language": "en", "event": "PAUSED"})
    assert r["webhookStatus"] == 200
    await page.locator("#template-toggle").click()
    await expect(picker.locator("option", has_text="shop_tour (en)")).to_have_count(0)
    await expect(picker.locator("option", has_text="fresh_bread (en)")).to_have_count(1)
    await web.meta_post("/simulate/template-status", {"name": "shop_tour", "language": "en", "event": "APPROVED"})


async def test_new_conversation_starts_with_a_template(open_page: Any, web: Stack) -> None:
    page = (await open_page()).page
    agent = await web.user()
    phone = new_phone()
    await login(page, agent)
    await page.click("#new-conversation")
    dialog = page.locator("#new-conversation-dialog")
    await page.fill("#new-conversation-phone", phone)
    await dialog.locator("#new-conversation-template").select_option(label="order_update (en)")
    params = dialog.locator(".template-param")
    await expect(params).to_have_count(2)
    await params.nth(0).fill("Neema")
    await params.nth(1).fill("#2001")
    await expect(dialog.locator("#new-conversation-template-preview")).to_have_text(
        "Hi Neema, your order #2001 has shipped and is on its way."
    )
    await page.click("#new-conversation-submit")
    await expect(dialog).to_be_hidden()
    bubble = page.locator("#thread-messages .message.outbound")
    await expect(bubble.locator(".template-label")).to_contain_text("order_update")
    await expect(bubble.locator(".text").last).to_have_text("Hi Neema, your order #2001 has shipped and is on its way.")
    await expect(page.locator("#thread-title")).to_have_text(phone)
    assert template_calls(web, phone) == [
        {
            "name": "order_update",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Neema"}, {"type": "text", "text": "#2001"}]}
            ],
        }
    ]
