"""The installable app in real Chromium at a phone's size: the manifest and its icons, the
service worker registering and keeping the shell (never an API answer), the shell opening
with the server stopped and saying "Offline"; a service-worker push shown as a notification;
the dashboard telling the server what is on screen, so no Web Push comes for it; a
notification's link opening its conversation."""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.push_service import BrowserSubscription, PushServiceStandIn, push_service
from tests.servers import Agent, Stack, database_url, eventually, new_phone, stack
from tests.test_browser import PHONE, TIMEOUT_MS, browser, live, login, open_page, screenshot
from tests.test_notify_browser import HOOKS

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["browser", "open_page"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pushes() -> AsyncIterator[PushServiceStandIn]:
    async with push_service() as service:
        yield service


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """This module's server: it may push to the loopback push service stand-in."""
    async with database_url("sqlite", tmp_path_factory.mktemp("pwa-db")) as url:
        async with stack(url, push_allow_http=True) as s:
            yield s


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_manifest_and_icons(web: Stack) -> None:
    page = (await web.http.get(f"{web.base_url}/")).text
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in page
    assert '<meta name="theme-color"' in page
    r = await web.http.get(f"{web.base_url}/static/manifest.webmanifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    manifest = r.json()
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["name"] and manifest["short_name"] and manifest["theme_color"].startswith("#")
    sizes = set()
    for icon in manifest["icons"]:
        data = (await web.http.get(f"{web.base_url}{icon['src']}")).content
        w, h = png_size(data)
        assert f"{w}x{h}" == icon["sizes"], icon
        sizes.add((w, icon.get("purpose", "any")))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes
    sw = await web.http.get(f"{web.base_url}/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    assert sw.headers["cache-control"] == "no-cache"
    assert "content-security-policy" in sw.headers


async def worker_ready(page: Page) -> None:
    assert await page.evaluate("navigator.serviceWorker.ready.then((r) => !!r.active)")


async def cached_paths(page: Page) -> list[str]:
    return await page.evaluate(
        """async () => {
          const out = [];
          for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) out.push(new URL(request.url).pathname);
          }
          return out;
        }"""
    )


async def test_the_shell_opens_with_the_server_stopped(browser: Browser, tmp_path_factory: Any) -> None:
    async with contextlib.AsyncExitStack() as running:
        url = await running.enter_async_context(database_url("sqlite", tmp_path_factory.mktemp("offline-db")))
        inbox = await running.enter_async_context(stack(url))
        context = await browser.new_context(viewport=PHONE, base_url=inbox.base_url, locale="en-GB")
        context.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        agent = await inbox.user()
        phone = new_phone()
        await agent.post("/api/invitations", {"name": "Offline Person", "phoneNumber": phone})
        await inbox.customer_writes(phone.lstrip("+"), "Hello")
        await login(page, agent)
        await live(page)
        await worker_ready(page)
        # Controlled from the next load on: the app talks to the API through the worker's scope.
        await page.reload()
        await live(page)
        await expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)
        paths = await cached_paths(page)
        assert "/" in paths and "/static/app.js" in paths and "/static/chat.js" in paths, paths
        assert "/static/notify.js" in paths and "/static/style.css" in paths, paths
        assert not [p for p in paths if not (p == "/" or p.startswith("/static/"))], paths
    # The server is gone (its port refuses connections). The page reloads from the copy.
    await page.reload()
    await expect(page.locator("#offline-view")).to_be_visible()
    await expect(page.locator("#offline-view h1")).to_have_text("Offline")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await screenshot(page, "pwa-offline")
    # A new tab of the installed app opens too, from the copy: signed in already (the session
    # cookie is the browser's), it waits for the server like the first.
    fresh = await context.new_page()
    await fresh.goto("/")
    await expect(fresh.locator("#offline-view")).to_be_visible()
    assert errors == [], errors
    await context.close()


async def test_a_push_shows_a_notification_from_the_service_worker(open_page: Any, web: Stack) -> None:
    page = (await open_page(viewport=PHONE)).page
    await page.context.grant_permissions(["notifications"])
    agent = await web.user()
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Clicked Customer", "phoneNumber": phone})
    await web.customer_writes(phone.lstrip("+"), "Hello", name="Clicked Customer")
    await login(page, agent)
    await live(page)
    await worker_ready(page)
    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    assert await eventually(lambda: _truthy(registrations))
    payload = {"title": "Amina", "body": "Is the cake ready?", "tag": "conversation-7", "conversationId": 7}
    payload["url"] = "/?conversation=7"
    registration = registrations[0]["registrationId"]
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": web.base_url + "/", "registrationId": registration, "data": json.dumps(payload)},
    )

    async def shown() -> list[dict[str, Any]]:
        return await page.evaluate(
            """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) =>
                 ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))"""
        )

    assert await eventually(shown)
    [notification] = await shown()
    assert notification["title"] == "Amina" and notification["body"] == "Is the cake ready?"
    assert notification["data"] == {"conversationId": 7, "url": "/?conversation=7"}

    # What a click on it does: the open window is told to show that conversation.
    conv = await agent.conversation_with(phone)
    assert conv is not None
    [worker] = page.context.service_workers
    target = {"conversationId": conv["id"], "url": f"/?conversation={conv['id']}"}
    await worker.evaluate("(data) => self.openConversation(data)", target)
    await expect(page.locator("#thread-title")).to_have_text("Clicked Customer")


async def test_the_conversation_on_screen_is_not_pushed(open_page: Any, web: Stack, pushes: PushServiceStandIn) -> None:
    agent = await web.user()
    first, second = new_phone(), new_phone()
    for phone, name in ((first, "Amani"), (second, "Bahati")):
        await agent.post("/api/invitations", {"name": name, "phoneNumber": phone})
        await web.customer_writes(phone.lstrip("+"), "Hi", name=name)
    device = BrowserSubscription(pushes.url)
    r = await agent.post("/api/push/subscriptions", device.to_json())
    assert r.status_code == 201, r.text
    page = (await open_page(viewport=PHONE, init_script=HOOKS)).page
    await login(page, agent)
    await live(page)
    await page.locator("#conversation-list .conversation-item", has_text="Amani").click()
    await expect(page.locator("#thread-title")).to_have_text("Amani")
    conv = await agent.conversation_with(first)
    assert conv is not None
    assert await eventually(lambda: _on_screen(web, agent, conv["id"]))

    await writes_and_waits(web, first, "Amani here again", "Amani")
    await writes_and_waits(web, second, "Bahati here", "Bahati")
    # Only the conversation not on screen reached the device.
    assert [device.decrypt(p.body)["title"] for p in pushes.for_token(device.token)] == ["Bahati"]
    # The tab goes to the background: it no longer counts as looking.
    await page.evaluate("window.__setHidden(true)")
    assert await eventually(lambda: _not(_on_screen(web, agent, conv["id"])))
    await writes_and_waits(web, first, "Hello?", "Amani")
    assert [device.decrypt(p.body)["body"] for p in pushes.for_token(device.token)] == ["Bahati here", "Hello?"]

    # A notification's link opens its conversation (after sign-in, in this tab).
    await page.evaluate("window.__setHidden(false)")
    await page.goto(f"/?conversation={conv['id']}")
    await expect(page.locator("#thread-title")).to_have_text("Amani")
    assert "conversation=" not in page.url


async def writes_and_waits(web: Stack, phone: str, text: str, name: str) -> None:
    service = web.app.state.push
    handled = service.handled
    await web.customer_writes(phone.lstrip("+"), text, name=name)

    async def idle() -> bool:
        return service.idle and service.handled > handled

    assert await eventually(idle, timeout=10)


async def _on_screen(web: Stack, agent: Agent, conversation_id: int) -> bool:
    rows = await web.app.state.db.fetch_all(
        "SELECT 1 FROM dashboard_views WHERE user_id = :u AND conversation_id = :c", u=agent.id, c=conversation_id
    )
    return bool(rows)


async def _not(awaitable: Any) -> bool:
    return not await awaitable


async def _truthy(value: Any) -> Any:
    return value


# Chrome on Android: `new Notification()` throws ("use ServiceWorkerRegistration.showNotification").
NO_PAGE_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  class PageNotificationsRefused extends Real {
    constructor() { throw new TypeError('Illegal constructor'); }
  }
  window.Notification = PageNotificationsRefused;
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
  window.__setHidden = (hidden) => { window.__hidden = hidden; document.dispatchEvent(new Event('visibilitychange')); };
})();
"""


async def test_where_pages_may_not_notify_the_service_worker_does(open_page: Any, web: Stack) -> None:
    page = (await open_page(viewport=PHONE, init_script=NO_PAGE_NOTIFICATIONS)).page
    await page.context.grant_permissions(["notifications"])
    agent = await web.user()
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Android Customer", "phoneNumber": phone})
    await web.customer_writes(phone.lstrip("+"), "Hello", name="Android Customer")
    await login(page, agent)
    await worker_ready(page)
    await page.reload()  # now controlled by the worker, as an installed app is
    await live(page)
    await page.evaluate("window.__setHidden(true)")
    await web.customer_writes(phone.lstrip("+"), "Are you open on Sunday?", name="Android Customer")

    async def shown() -> list[dict[str, Any]]:
        return await page.evaluate(
            """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) =>
                 ns.map((n) => ({ title: n.title, body: n.body, data: n.data })))"""
        )

    assert await eventually(shown)
    [notification] = await shown()
    conv = await agent.conversation_with(phone)
    assert conv is not None
    assert notification == {
        "title": "Android Customer",
        "body": "Are you open on Sunday?",
        "data": {"conversationId": conv["id"], "url": f"/?conversation={conv['id']}"},
    }
