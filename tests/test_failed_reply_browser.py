"""Failed replies and the team's leftovers in real Chromium: a reply WhatsApp refused is a red
bubble with the reason in words and Retry (the same message goes out again, and every open
dashboard sees it go pending -> delivered); in a closed window it offers the template picker
instead. Labels an admin adds or deletes appear and vanish live in an agent's dashboard; an
agent who may claim from the queue hands a conversation back to it from the assignee menu."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.servers import Agent, Stack, database_url, stack
from tests.test_browser import browser, conversation_item, invited, live, login, open_page, screenshot  # noqa: F401
from tests.test_team_browser import person

pytestmark = pytest.mark.asyncio(loop_scope="session")

RED_BUBBLE = "rgb(253, 232, 231)"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Templates (a business account), files, and agents who may claim from the queue."""
    async with database_url("sqlite", tmp_path_factory.mktemp("failed-browser-db")) as url:
        async with stack(
            url,
            media_dir=str(tmp_path_factory.mktemp("failed-browser-files")),
            whatsapp_business_account_id="2000000002",
            agents_see_unassigned=True,
        ) as s:
            yield s


async def signed_in(open_page: Any, agent: Agent) -> Page:
    page = (await open_page()).page
    await login(page, agent)
    await live(page)
    return page


async def test_failed_reply_is_red_with_its_reason_and_retry_sends_it(open_page: Any, web: Stack) -> None:
    agent = await person(web, "Rosa")
    phone = await invited(web, agent, "Kwame")
    await web.customer_writes(phone.lstrip("+"), "Is my order ready?", name="Kwame")
    page = await signed_in(open_page, agent)
    watcher = await signed_in(open_page, agent)  # a second dashboard of the same agent
    for p in (page, watcher):
        await conversation_item(p, "Kwame").click()

    await web.meta_post("/simulate/fail", {"code": 131026, "via": "status"})
    await page.locator("#composer-input").fill("Yes, pick it up after 2 pm.")
    await page.keyboard.press("Enter")
    for p in (page, watcher):
        failed = p.locator("#thread-messages .message.outbound.failed")
        await expect(failed).to_have_count(1)
        await expect(failed.locator(".text")).to_have_text("Yes, pick it up after 2 pm.")
        await expect(failed.locator(".failure-reason")).to_have_text(
            "Not sent: WhatsApp could not deliver the message: the number may not use WhatsApp, "
            "or the customer has not accepted the latest terms."
        )
        await expect(failed.locator(".bubble")).to_have_css("background-color", RED_BUBBLE)
        await expect(failed.locator(".retry-button")).to_have_text("Retry")
    await expect(page.locator("#thread-labels")).to_have_text("")  # no labels yet: nothing, not "null"
    await screenshot(page, "failed-reply")

    # A retry that fails again says so, with the new reason; the next one goes through.
    await web.meta_post("/simulate/fail", {"code": 131049, "via": "response"})
    await page.locator(".retry-button").click()
    for p in (page, watcher):
        await expect(p.locator("#thread-messages .message.outbound.failed .failure-reason")).to_have_text(
            "Not sent: Meta chose not to deliver this message to keep engagement healthy; try later."
        )
    await page.locator(".retry-button").click()
    # The same bubble (no copy), back to normal, ticking on, in both dashboards.
    for p in (page, watcher):
        await expect(p.locator("#thread-messages .message.outbound.failed")).to_have_count(0)
        reply = p.locator("#thread-messages .message.outbound")
        await expect(reply).to_have_count(1)
        await expect(reply.locator(".status-tick")).to_have_attribute("data-status", re.compile("^(delivered|read)$"))
        await expect(reply.locator(".message-failure")).to_have_count(0)
    bodies = [
        q["json"]["text"]["body"]
        for q in web.meta.requests
        if q["json"] and q["json"].get("to") == phone.lstrip("+") and q["json"].get("type") == "text"
    ]
    assert bodies == ["Yes, pick it up after 2 pm."] * 3


async def test_failed_reply_in_a_closed_window_offers_a_template(open_page: Any, web: Stack) -> None:
    agent = await person(web, "Rosa")
    phone = await invited(web, agent, "Fatuma")
    await web.customer_writes(phone.lstrip("+"), "Do you make wedding cakes?", name="Fatuma")
    await web.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    conv = await agent.conversation_with(phone)
    assert conv is not None
    r = await agent.send(conversationId=conv["id"], content="Yes we do!")
    assert r.status_code == 201 and r.json()["status"] == "failed", r.text

    async def close_window(tx: Any) -> None:
        at = int((time.time() - 25 * 3600) * 1000)
        await tx.execute("UPDATE conversations SET last_inbound_at = :t WHERE id = :id", t=at, id=conv["id"])
        await tx.execute("UPDATE messages SET created_at = :t WHERE conversation_id = :id", t=at, id=conv["id"])

    await web.app.state.db.write(close_window)
    page = await signed_in(open_page, agent)
    await conversation_item(page, "Fatuma").click()
    failed = page.locator("#thread-messages .message.outbound.failed")
    await expect(failed.locator(".failure-reason")).to_contain_text("Not sent: WhatsApp could not deliver")
    await expect(failed.locator(".retry-button")).to_have_count(0)  # it would only fail again
    await failed.locator(".template-instead").click()
    await expect(page.locator("#template-picker")).to_be_focused()
    await expect(page.locator("#template-picker option", has_text="order_update (en)")).to_have_count(1)


async def test_labels_appear_and_vanish_live(open_page: Any, web: Stack) -> None:
    admin, agent = await person(web, "Boss", admin=True), await person(web, "Ana")
    await invited(web, agent, "Grace")
    phone = (await agent.get("/api/invitations")).json()[0]["phoneNumber"]
    await web.customer_writes(phone.lstrip("+"), "hello", name="Grace")
    page = await signed_in(open_page, agent)
    await conversation_item(page, "Grace").click()
    name = "rush" + uuid.uuid4().hex[:4]
    await expect(page.locator("#label-filter option", has_text=name)).to_have_count(0)

    r = await admin.post("/api/labels", {"name": name, "color": "#dc2626"})
    assert r.status_code == 201, r.text
    await expect(page.locator("#label-filter option", has_text=name)).to_have_count(1)
    await expect(page.locator("#label-filter")).to_be_visible()
    await page.locator("#label-add").select_option(label=name)
    await expect(page.locator("#thread-labels .label-chip", has_text=name)).to_be_visible()

    r = await admin.stack.http.delete(f"{web.base_url}/api/labels/{r.json()['id']}", headers=admin.headers)
    assert r.status_code == 200, r.text
    await expect(page.locator("#label-filter option", has_text=name)).to_have_count(0)
    await expect(page.locator("#thread-labels .label-chip", has_text=name)).to_have_count(0)
    await expect(conversation_item(page, "Grace").locator(".label-chip", has_text=name)).to_have_count(0)


async def test_agent_hands_a_conversation_back_to_the_queue(open_page: Any, web: Stack) -> None:
    ana, ben = await person(web, "Ana"), await person(web, "Ben")
    phone = await invited(web, ana, "Jordan")
    await web.customer_writes(phone.lstrip("+"), "anyone there?", name="Jordan")
    ana_page = await signed_in(open_page, ana)
    ben_page = await signed_in(open_page, ben)
    await ben_page.locator('#list-views [data-view="unassigned"]').click()
    await expect(conversation_item(ben_page, "Jordan")).to_have_count(0)

    await conversation_item(ana_page, "Jordan").click()
    await ana_page.locator("#assignee-menu").select_option(label="Unassigned")
    await expect(ana_page.locator("#thread-subtitle")).to_contain_text("Unassigned")
    await expect(ana_page.locator("#thread-messages .message.activity").last).to_contain_text("Ana unassigned this")
    # Ben sees it arrive in the queue and takes it.
    item = conversation_item(ben_page, "Jordan")
    await expect(item).to_be_visible()
    await item.click()
    await ben_page.locator("#assignee-menu").select_option(label="Ben (me)")
    await expect(ben_page.locator("#thread-subtitle")).to_contain_text("Assigned to Ben")
