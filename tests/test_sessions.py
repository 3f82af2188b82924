"""Sessions against a real server: the dashboard's HttpOnly cookie and its CSRF rule, websockets
without a token in the URL, expiry, script tokens listed and revoked, and every way a token
ends closing that token's websockets with 4401, in this process and in another."""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server import sessions
from server.auth import token_hash
from tests.conftest import DATABASES
from tests.processes import cli, server_env, server_process
from tests.servers import PASSWORD, REDIS_URL, Agent, Stack, database_url, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = {"X-Inbox-CSRF": "1"}
HOUR_MS = 3600 * 1000


async def cookie_login(inbox: Stack, agent: Agent, **headers: str) -> tuple[str, httpx.Response]:
    """Logs in the way the dashboard does; returns the session cookie's value and the answer."""
    r = await inbox.http.post(
        f"{inbox.base_url}/api/auth/login",
        json={"email": agent.email, "password": PASSWORD, "cookie": True},
        headers={**CSRF, **headers},
    )
    assert r.status_code == 200, r.text
    cookie = SimpleCookie()
    cookie.load(r.headers["set-cookie"])
    return cookie["inbox_session"].value, r


def cookie_headers(value: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"inbox_session={value}", **extra}


def ws_base(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


async def closed_with(ws: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    """Reads until the server closes; the close code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert info.value.rcvd is not None, info.value
    return info.value.rcvd.code, info.value.rcvd.reason


async def still_open(ws: ClientConnection, inbox: Stack, agent: Agent) -> None:
    """`ws` still gets live events: a customer of `agent`'s writes."""
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Still here", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), "are you there?")
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if event["type"] == "message.created" and event["data"]["content"] == "are you there?":
            return


async def test_dashboard_login_is_an_httponly_cookie_with_csrf_rule(inbox: Stack) -> None:
    agent = await inbox.user()
    value, r = await cookie_login(inbox, agent)
    assert "token" not in r.json() and value not in r.text  # no script ever sees the secret
    attrs = r.headers["set-cookie"].lower()
    for part in ("httponly", "samesite=strict", "path=/", f"max-age={7 * 24 * 3600}"):
        assert part in attrs, attrs
    assert "secure" not in attrs  # plain http: a Secure cookie would never come back

    base = inbox.base_url
    me = await inbox.http.get(f"{base}/api/me", headers=cookie_headers(value))
    assert me.status_code == 200 and me.json()["email"] == agent.email
    # A state-changing request on the cookie alone (what a forged form would send): refused.
    body = {"name": "Forged", "phoneNumber": new_phone()}
    forged = await inbox.http.post(f"{base}/api/invitations", json=body, headers=cookie_headers(value))
    assert forged.status_code == 403 and forged.json()["code"] == "csrf_header_missing", forged.text
    other_site = cookie_headers(value, Origin="https://evil.example", **CSRF)
    forged = await inbox.http.post(f"{base}/api/invitations", json=body, headers=other_site)
    assert forged.status_code == 403 and forged.json()["code"] == "cross_origin", forged.text
    ok = await inbox.http.post(f"{base}/api/invitations", json=body, headers=cookie_headers(value, Origin=base, **CSRF))
    assert ok.status_code == 201, ok.text
    # Logging a victim into the attacker's account is refused the same way.
    r = await inbox.http.post(
        f"{base}/api/auth/login", json={"email": agent.email, "password": PASSWORD, "cookie": True}
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers
    # Bearer clients are unchanged: no header needed, the token in the answer.
    r = await inbox.http.post(f"{base}/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert r.status_code == 200 and "set-cookie" not in r.headers
    bearer = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await inbox.http.post(f"{base}/api/invitations", json={"name": "B", "phoneNumber": new_phone()}, headers=bearer)
    assert r.status_code == 201, r.text

    # Behind the documented proxy (X-Forwarded-Proto from FORWARDED_ALLOW_IPS), the cookie is Secure.
    _, r = await cookie_login(inbox, agent, **{"X-Forwarded-Proto": "https"})
    assert "secure" in r.headers["set-cookie"].lower()


async def test_websocket_by_cookie_header_or_first_message_never_the_url(inbox: Stack) -> None:
    agent = await inbox.user()
    value, _ = await cookie_login(inbox, agent)
    url = ws_base(inbox.base_url)
    async with (
        connect(url, additional_headers=cookie_headers(value, Origin=inbox.base_url)) as by_cookie,
        connect(url, additional_headers=agent.headers) as by_header,
        connect(url) as by_message,
    ):
        await by_message.send(json.dumps({"type": "auth", "token": agent.token}))
        await asyncio.sleep(0.2)  # the first message is read before the stream starts
        for ws in (by_cookie, by_header, by_message):
            await still_open(ws, inbox, agent)

    # The cookie from a page of another site (cross-site websocket hijacking): refused.
    async with connect(url, additional_headers=cookie_headers(value, Origin="https://evil.example")) as ws:
        assert (await closed_with(ws))[0] == 4401
    for first in ('{"type": "auth", "token": "nope"}', "not json"):
        async with connect(url) as ws:
            await ws.send(first)
            assert (await closed_with(ws))[0] == 4401


async def test_logout_closes_every_tab_of_that_session_and_only_it(inbox: Stack) -> None:
    agent = await inbox.user()
    value, _ = await cookie_login(inbox, agent)
    url = ws_base(inbox.base_url)
    tab = cookie_headers(value, Origin=inbox.base_url)
    async with (
        connect(url, additional_headers=tab) as tab_one,
        connect(url, additional_headers=tab) as tab_two,
        connect(url, additional_headers=agent.headers) as script,  # another login of the same user
    ):
        await still_open(tab_one, inbox, agent)
        r = await inbox.http.post(f"{inbox.base_url}/api/auth/logout", headers=cookie_headers(value, **CSRF))
        assert r.status_code == 200, r.text
        assert "inbox_session=" in r.headers["set-cookie"] and "max-age=0" in r.headers["set-cookie"].lower()
        for ws in (tab_one, tab_two):
            assert await closed_with(ws) == (4401, "signed out: logged out")
        await still_open(script, inbox, agent)
    assert (await inbox.http.get(f"{inbox.base_url}/api/me", headers=cookie_headers(value))).status_code == 401
    assert (await agent.get("/api/me")).status_code == 200


async def _age(inbox: Stack, token: str, column: str, by_ms: int) -> None:
    async def job(tx: Any) -> None:
        await tx.execute(
            f"UPDATE tokens SET {column} = {column} - :d WHERE token_hash = :h", d=by_ms, h=token_hash(token)
        )

    await inbox.app.state.db.write(job)


async def _last_used(inbox: Stack, token: str) -> int:
    return int(
        await inbox.app.state.db.fetch_val("SELECT last_used_at FROM tokens WHERE token_hash = :h", h=token_hash(token))
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_sessions_expire_when_idle_or_old_and_their_websockets_close(kind: str, tmp_path: Any) -> None:
    async with (
        database_url(kind, tmp_path) as db_url,
        stack(db_url, session_idle_minutes=60, session_max_age_hours=24) as inbox,
    ):
        idle, old, used, script = await inbox.user(), await inbox.user(), await inbox.user(), await inbox.user()
        token, _ = await sessions.issue(inbox.app.state.store, script.id, sessions.SCRIPT)
        url = ws_base(inbox.base_url)
        async with connect(url, additional_headers=idle.headers) as idle_ws:
            await still_open(idle_ws, inbox, idle)
            await _age(inbox, idle.token, "last_used_at", HOUR_MS + 1000)  # an hour without a request
            assert await closed_with(idle_ws) == (4401, "signed out: the session expired")
        assert (await idle.get("/api/me")).status_code == 401

        # In use all along, but logged in more than 24 hours ago: over.
        await _age(inbox, old.token, "created_at", 25 * HOUR_MS)
        r = await old.get("/api/me")
        assert r.status_code == 401 and "expired" in r.json()["error"]

        # Each request pushes the idle limit back.
        await _age(inbox, used.token, "last_used_at", 50 * 60 * 1000)
        before = await _last_used(inbox, used.token)
        assert (await used.get("/api/me")).status_code == 200
        assert await _last_used(inbox, used.token) > before + 40 * 60 * 1000

        # Script tokens do not expire: only revocation ends them.
        await _age(inbox, token, "created_at", 90 * 24 * HOUR_MS)
        await _age(inbox, token, "last_used_at", 90 * 24 * HOUR_MS)
        assert await sessions.sweep(inbox.app.state.store, sessions.Policy.from_settings(inbox.settings)) == 0
        me = await inbox.http.get(f"{inbox.base_url}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200


async def test_script_tokens_are_listed_without_secrets_and_revoked(inbox: Stack) -> None:
    admin, agent = await inbox.user(admin=True), await inbox.user()
    r = await admin.post("/api/tokens", {"name": "crm sync"})
    assert r.status_code == 201, r.text
    made = r.json()
    secret, token_id = made["token"], made["id"]
    assert made["kind"] == "script" and made["name"] == "crm sync" and made["userEmail"] == admin.email
    r = await agent.post("/api/tokens", {"name": "mine"})
    assert r.status_code == 201
    agents_id = r.json()["id"]
    forbidden = await agent.post("/api/tokens", {"name": "for the boss", "userId": admin.id})
    assert forbidden.status_code == 403

    listed = await admin.get("/api/tokens")
    assert listed.status_code == 200
    assert secret not in listed.text and token_hash(secret) not in listed.text  # never shown again
    mine = {t["id"]: t for t in listed.json()}
    assert mine[token_id]["name"] == "crm sync" and "token" not in mine[token_id]
    assert agents_id in mine  # admins see everyone's
    assert {t["id"] for t in (await agent.get("/api/tokens")).json()} == {agents_id}  # agents their own
    sessions = (await admin.get("/api/tokens", kind="session")).json()
    assert {admin.email, agent.email} <= {t["userEmail"] for t in sessions}
    assert all(t["expiresAt"] for t in sessions)

    http, base = inbox.http, inbox.base_url
    assert (await http.delete(f"{base}/api/tokens/{token_id}", headers=agent.headers)).status_code == 404
    async with connect(ws_base(base), additional_headers={"Authorization": f"Bearer {secret}"}) as ws:
        await still_open(ws, inbox, admin)
        r = await http.delete(f"{base}/api/tokens/{token_id}", headers=admin.headers)
        assert r.status_code == 200 and r.json()["revoked"] is True
        assert await closed_with(ws) == (4401, "signed out: the token was revoked")
    assert (await http.get(f"{base}/api/me", headers={"Authorization": f"Bearer {secret}"})).status_code == 401
    assert (await http.delete(f"{base}/api/tokens/{token_id}", headers=admin.headers)).status_code == 404
    assert token_id not in {t["id"] for t in (await admin.get("/api/tokens")).json()}


@pytest.mark.skipif("postgresql" not in DATABASES, reason="needs PostgreSQL (TEST_DATABASES leaves it out)")
@pytest.mark.parametrize("broadcast", ["redis", "postgresql"])
async def test_logout_at_one_process_closes_the_session_at_another(broadcast: str, tmp_path: Any) -> None:
    async with database_url("postgresql", tmp_path) as db_url:
        env = server_env(db_url, BROADCAST_URL=REDIS_URL if broadcast == "redis" else db_url)
        done = cli(env, tmp_path, "create-user", "two@example.com", "--password", PASSWORD)
        assert done.returncode == 0, done.stderr
        async with server_process(env, tmp_path) as one, server_process(env, tmp_path) as two:
            async with httpx.AsyncClient() as http:
                r = await http.post(
                    f"{one.url}/api/auth/login",
                    json={"email": "two@example.com", "password": PASSWORD, "cookie": True},
                    headers=CSRF,
                )
                assert r.status_code == 200, r.text
                value = r.cookies["inbox_session"]
                async with connect(ws_base(two.url), additional_headers=cookie_headers(value)) as ws:
                    await asyncio.sleep(0.3)
                    r = await http.post(f"{one.url}/api/auth/logout", headers=cookie_headers(value, **CSRF))
                    assert r.status_code == 200
                    # The reason is the event's ("logged out"), not the sweep's ("the session ended").
                    assert await closed_with(ws) == (4401, "signed out: logged out")
                me = await http.get(f"{two.url}/api/me", headers=cookie_headers(value))
                assert me.status_code == 401


async def test_deactivation_is_the_same_mechanism(inbox: Stack) -> None:
    admin, agent = await inbox.user(admin=True), await inbox.user()
    async with connect(ws_base(inbox.base_url), additional_headers=agent.headers) as ws:
        await still_open(ws, inbox, agent)
        r = await inbox.http.patch(
            f"{inbox.base_url}/api/users/{agent.id}", json={"active": False}, headers=admin.headers
        )
        assert r.status_code == 200, r.text
        assert await closed_with(ws) == (4401, "signed out: this account was deactivated")
    assert await inbox.app.state.db.fetch_val("SELECT COUNT(*) FROM tokens WHERE user_id = :u", u=agent.id) == 0
