"""Web hardening against a real server: security headers on every response (CSP without
inline script, no framing, nosniff, Referrer-Policy, HSTS behind an HTTPS proxy), a customer
filename with CR/LF, /healthz without database errors, the verify-token echo."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import DATABASES
from tests.servers import POSTGRES_ADMIN_URL, VERIFY_TOKEN, Stack, database_url, stack
from tests.test_browser import browser, login, open_page, web  # noqa: F401 (fixtures)
from tests.test_media import (  # noqa: F401 (fixtures)
    account,
    customer_sends,
    get_media,
    invited_conversation,
    media_inbox,
    media_stack,
    media_status,
    register,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

STATIC = Path(__file__).resolve().parent.parent / "static"


def assert_hardened(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp or "sandbox" in csp, (r.url, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert r.headers.get("x-content-type-options") == "nosniff", r.url
    assert r.headers.get("referrer-policy") or "sandbox" in csp, r.url


async def test_every_response_carries_the_security_headers(inbox: Stack) -> None:
    agent = await inbox.user()
    base = inbox.base_url
    answers = [
        await inbox.http.get(f"{base}/"),
        await inbox.http.get(f"{base}/static/app.js"),
        await inbox.http.get(f"{base}/static/nothing-here.js"),
        await inbox.http.get(f"{base}/healthz"),
        await inbox.http.get(f"{base}/api/me"),
        await agent.get("/api/conversations"),
        await inbox.http.post(f"{base}/api/auth/login", content=b"{nope"),
        await inbox.http.post(f"{base}/webhook", content=b"{}"),
        await inbox.http.get(f"{base}/api/nothing"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 200, 401, 200, 400, 401, 404]
    for r in answers:
        assert_hardened(r)
        assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS
    page = answers[0]
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"


async def test_hsts_behind_an_https_proxy(inbox: Stack) -> None:
    # The proxy (trusted from 127.0.0.1, uvicorn's FORWARDED_ALLOW_IPS) says the client used HTTPS.
    r = await inbox.http.get(f"{inbox.base_url}/", headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert_hardened(r)


async def test_dashboard_has_no_inline_script_style_or_handler() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html), "style attribute"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler"
    for js in STATIC.glob("*.js"):
        text = js.read_text()
        assert "innerHTML" not in text and "eval(" not in text and "new Function" not in text, js.name
        assert not re.search(r"setAttribute\(\s*['\"](style|on[a-z]+)['\"]", text), js.name


async def test_injected_markup_cannot_run_script_in_the_dashboard(open_page: Any, web: Stack) -> None:  # noqa: F811
    """What an HTML injection would try: the policy stops it, and the dashboard itself trips
    no violation while it logs in and shows the chat."""
    w = await open_page(
        init_script="window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));"
    )
    await login(w.page, await web.user())
    assert await w.page.evaluate("window.__violations") == []
    await w.page.evaluate(
        """document.body.insertAdjacentHTML('beforeend',
             '<img id=probe src=data:, onerror="window.__pwned = 1">');"""
    )
    await asyncio.sleep(0.3)
    assert await w.page.evaluate("window.__pwned") is None
    assert await w.page.evaluate("window.__violations.length") >= 1
    w.errors.clear()  # the refused handler is reported on the console, as it should be


async def test_customer_filename_with_cr_lf_downloads_safely(media_inbox: Stack) -> None:  # noqa: F811
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    data = b"%PDF-1.4\n" + os.urandom(200)
    media_id = await register(inbox, data, "application/pdf")
    evil = 'invoice\r\nSet-Cookie: inbox_session=attacker\r\n\r\n<script>".pdf'
    wamid = await customer_sends(
        inbox, conv["phoneNumber"], "document", {"id": media_id, "mime_type": "application/pdf", "filename": evil}
    )
    assert await media_status(agent, conv["id"], wamid, "ready")
    r = await get_media(inbox, media_id, headers=agent.headers)
    assert r.status_code == 200 and r.content == data
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;"), disposition
    assert "\r" not in disposition and "\n" not in disposition
    assert "set-cookie" not in r.headers
    assert "invoice Set-Cookie" in disposition  # the name, flattened onto one line


@pytest.mark.skipif("postgresql" not in DATABASES, reason="needs PostgreSQL (TEST_DATABASES leaves it out)")
async def test_healthz_does_not_show_database_errors(tmp_path: Any) -> None:
    async with database_url("postgresql", tmp_path) as url, stack(url) as inbox:
        assert (await inbox.http.get(f"{inbox.base_url}/healthz")).json() == {"status": "ok", "database": "ok"}
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:  # the database goes away under the running server
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        r = await inbox.http.get(f"{inbox.base_url}/healthz")
        assert r.status_code == 503
        assert r.json() == {"status": "error", "database": "unreachable"}
        assert name not in r.text


async def test_verify_challenge_is_plain_text_and_not_sniffed(inbox: Stack) -> None:
    challenge = "<script>alert(1)</script>"
    params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": VERIFY_TOKEN}
    r = await inbox.http.get(f"{inbox.base_url}/webhook", params=params)
    assert r.status_code == 200 and r.text == challenge
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    for wrong in ("", VERIFY_TOKEN[:-1], VERIFY_TOKEN + "x", "é" * 5):
        r = await inbox.http.get(f"{inbox.base_url}/webhook", params={**params, "hub.verify_token": wrong})
        assert r.status_code == 403, (wrong, r.status_code)
