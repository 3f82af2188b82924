"""Web Push end to end, on SQLite and PostgreSQL: a customer writes through the Meta stand-in,
and our push service stand-in (tests/push_service.py, a real HTTP server) receives a VAPID-
signed, aes128gcm-encrypted push that decrypts, with the subscription's keys, to the
notification; only for those who may see the conversation and are not looking at it; a 410
removes the subscription; a slow push service never holds the webhook."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from server.errors import Invalid
from server.push import parse_subscription
from tests.conftest import DATABASES
from tests.push_service import BrowserSubscription, PushServiceStandIn, push_service, verify_vapid
from tests.servers import Agent, Stack, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=DATABASES)
async def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with push_service() as service:
        async with database_url(request.param, tmp_path_factory.mktemp("push")) as url:
            async with stack(url, push_allow_http=True, vapid_subject="mailto:ops@bakery.example") as inbox:
                yield inbox, service


async def subscribe(agent: Agent, service: PushServiceStandIn) -> BrowserSubscription:
    sub = BrowserSubscription(service.url)
    r = await agent.stack.http.post(
        f"{agent.stack.base_url}/api/push/subscriptions",
        json=sub.to_json(),
        headers={**agent.headers, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"},
    )
    assert r.status_code == 201, r.text
    return sub


async def customer_of(inbox: Stack, agent: Agent | None, name: str) -> tuple[str, int]:
    phone = new_phone()
    if agent is not None:
        r = await agent.post("/api/invitations", {"name": name, "phoneNumber": phone})
        assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), "first", name=name)
    await fanned_out(inbox, 0)  # settle: the first message's push is not what these tests look at
    row = await inbox.app.state.db.fetch_one("SELECT id FROM conversations WHERE phone_number = :p", p=phone)
    assert row is not None
    return phone, row["id"]


async def fanned_out(inbox: Stack, at_least: int) -> None:
    """Waits until the push workers have handled every event queued so far (and `at_least`)."""
    service = inbox.app.state.push

    async def idle() -> bool:
        return service.idle and service.handled >= at_least

    assert await eventually(idle, timeout=10)


async def writes_and_waits(inbox: Stack, phone: str, text: str, name: str) -> None:
    handled = inbox.app.state.push.handled
    await inbox.customer_writes(phone.lstrip("+"), text, name=name)
    await fanned_out(inbox, handled + 1)


async def test_a_customer_message_arrives_signed_and_encrypted(env: Any) -> None:
    inbox, service = env
    ana = await inbox.user()
    phone, conv_id = await customer_of(inbox, ana, "Amina Juma")
    device = await subscribe(ana, service)
    r = await ana.get("/api/push/subscriptions")
    assert r.status_code == 200
    [listed] = r.json()
    assert listed["device"] == "Chrome on Linux" and listed["pushService"] == "127.0.0.1"
    public_key = (await ana.get("/api/push/key")).json()["publicKey"]

    before = time.time()
    await writes_and_waits(inbox, phone, "Is the chocolate cake ready?\nI can come at 5", "Amina Juma")
    [push] = service.for_token(device.token)
    assert push.headers["content-encoding"] == "aes128gcm"
    assert int(push.headers["ttl"]) > 0
    claims = verify_vapid(push.headers["authorization"], public_key)
    assert claims["aud"] == service.url
    assert claims["sub"] == "mailto:ops@bakery.example"
    assert before < claims["exp"] <= before + 24 * 3600 + 5
    assert device.decrypt(push.body) == {
        "title": "Amina Juma",
        "body": "Is the chocolate cake ready?",
        "tag": f"conversation-{conv_id}",
        "conversationId": conv_id,
        "url": f"/?conversation={conv_id}",
    }
    # The same key pair signs from now on (it is kept in the database).
    assert (await ana.get("/api/push/key")).json()["publicKey"] == public_key
    row = await inbox.app.state.db.fetch_one("SELECT public_key FROM vapid_keys WHERE id = 1")
    assert row is not None and row["public_key"] == public_key


async def test_only_those_who_may_see_it_and_are_not_looking(env: Any) -> None:
    inbox, service = env
    ana, ben, boss = await inbox.user(), await inbox.user(), await inbox.user(admin=True)
    phone, conv_id = await customer_of(inbox, ana, "Baraka")
    ana_phone, ana_laptop = await subscribe(ana, service), await subscribe(ana, service)
    ben_phone, boss_phone = await subscribe(ben, service), await subscribe(boss, service)

    await writes_and_waits(inbox, phone, "Hello?", "Baraka")
    # Both of Ana's devices, the admin's; never Ben's (not his conversation).
    assert len(service.for_token(ana_phone.token)) == 1 and len(service.for_token(ana_laptop.token)) == 1
    assert len(service.for_token(boss_phone.token)) == 1
    assert service.for_token(ben_phone.token) == []

    # Ana has it open in a dashboard: nothing for her devices; the admin still hears of it.
    tab = uuid.uuid4().hex
    r = await inbox.http.put(
        f"{inbox.base_url}/api/presence", json={"clientId": tab, "conversationId": conv_id}, headers=ana.headers
    )
    assert r.status_code == 200, r.text
    await writes_and_waits(inbox, phone, "Are you there?", "Baraka")
    assert len(service.for_token(ana_phone.token)) == 1
    assert len(service.for_token(boss_phone.token)) == 2
    # She moves on (or hides the tab): pushed again.
    await inbox.http.put(
        f"{inbox.base_url}/api/presence", json={"clientId": tab, "conversationId": None}, headers=ana.headers
    )
    await writes_and_waits(inbox, phone, "Hello??", "Baraka")
    assert len(service.for_token(ana_phone.token)) == 2
    assert ana_phone.decrypt(service.for_token(ana_phone.token)[-1].body)["body"] == "Hello??"

    # The admin narrows to their own conversations: no more pushes about Ana's.
    r = await inbox.http.put(f"{inbox.base_url}/api/me/preferences", json={"scope": "mine"}, headers=boss.headers)
    assert r.status_code == 200
    await writes_and_waits(inbox, phone, "Hello???", "Baraka")
    assert len(service.for_token(boss_phone.token)) == 3  # not this one
    assert len(service.for_token(ana_phone.token)) == 3


async def test_a_mention_is_pushed_to_the_one_mentioned(env: Any) -> None:
    inbox, service = env
    boss = await inbox.user(admin=True)
    ana = await inbox.user()
    _, conv_id = await customer_of(inbox, ana, "Neema")
    handle = ana.email.split("@")[0]
    device = await subscribe(ana, service)
    handled = inbox.app.state.push.handled
    r = await boss.post(f"/api/conversations/{conv_id}/notes", {"content": f"@{handle} call her back please"})
    assert r.status_code == 201, r.text
    await fanned_out(inbox, handled + 1)
    [push] = service.for_token(device.token)
    shown = device.decrypt(push.body)
    assert shown["title"] == f"{boss.email.split('@')[0]} mentioned you (Neema)"
    assert shown["body"] == f"@{handle} call her back please"
    assert shown["conversationId"] == conv_id


async def test_gone_subscriptions_are_removed_and_devices_can_leave(env: Any) -> None:
    inbox, service = env
    ana = await inbox.user()
    phone, _ = await customer_of(inbox, ana, "Kito")
    gone, kept = await subscribe(ana, service), await subscribe(ana, service)
    service.answers[gone.token] = 410
    await writes_and_waits(inbox, phone, "Hi", "Kito")
    assert len(service.for_token(gone.token)) == 1
    endpoints = [d["id"] for d in (await ana.get("/api/push/subscriptions")).json()]
    assert len(endpoints) == 1
    # The browser unsubscribes itself (by endpoint): nothing is pushed to it any more.
    r = await inbox.http.request(
        "DELETE", f"{inbox.base_url}/api/push/subscriptions", json={"endpoint": kept.endpoint}, headers=ana.headers
    )
    assert r.status_code == 200, r.text
    assert (await ana.get("/api/push/subscriptions")).json() == []
    await writes_and_waits(inbox, phone, "Hello?", "Kito")
    assert len(service.for_token(kept.token)) == 1
    r = await inbox.http.delete(f"{inbox.base_url}/api/push/subscriptions/{endpoints[0]}", headers=ana.headers)
    assert r.status_code == 404 and r.json()["code"] == "subscription_not_found"


async def test_a_slow_push_service_never_holds_the_webhook(env: Any) -> None:
    inbox, service = env
    ana = await inbox.user()
    phone, conv_id = await customer_of(inbox, ana, "Lulu")
    device = await subscribe(ana, service)
    service.hold[device.token] = asyncio.Event()
    service.arrived[device.token] = asyncio.Event()
    handled = inbox.app.state.push.handled
    await inbox.customer_writes(phone.lstrip("+"), "are you open?", name="Lulu")  # answered 200 by the inbox
    await asyncio.wait_for(service.arrived[device.token].wait(), 10)
    # The push is still unanswered, and the message is already stored and listed.
    assert inbox.app.state.push.handled == handled
    messages = await ana.messages(conv_id)
    assert messages[-1]["content"] == "are you open?"
    service.hold[device.token].set()
    await fanned_out(inbox, handled + 1)


async def test_subscriptions_are_checked() -> None:
    good = BrowserSubscription("https://push.example").to_json()
    assert parse_subscription(good, allow_http=False).endpoint == good["endpoint"]
    with pytest.raises(Invalid, match="https"):
        parse_subscription({**good, "endpoint": "http://push.example/x"}, allow_http=False)
    with pytest.raises(Invalid, match="p256dh"):
        parse_subscription({**good, "keys": {**good["keys"], "p256dh": "AAAA"}}, allow_http=False)
    with pytest.raises(Invalid, match="auth"):
        parse_subscription({**good, "keys": {**good["keys"], "auth": good["keys"]["p256dh"]}}, allow_http=False)
    with pytest.raises(Invalid):
        parse_subscription({"endpoint": good["endpoint"]}, allow_http=False)


async def test_vapid_keys_command_makes_the_pair_once(tmp_path: Any) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/keys.db", "PATH": "/usr/bin:/bin"}

    async def run() -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "vapid-keys",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    first, second = await run(), await run()
    assert first.startswith("VAPID public key: B") and first == second
