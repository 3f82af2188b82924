"""What an operator relies on: /healthz, request ids and request logs, the first-start
message of `serve`, and replaying stored webhooks without storing anything twice."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from server import logs
from server.__main__ import first_start_notes, shown_url
from server.settings import Settings
from tests.conftest import DATABASES
from tests.servers import Stack, database_url, eventually, free_port, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parent.parent


async def test_healthz(inbox: Stack) -> None:
    r = await inbox.http.get(f"{inbox.base_url}/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])


async def test_request_id_is_assigned_or_echoed(inbox: Stack) -> None:
    url = f"{inbox.base_url}/api/me"
    first, second = await asyncio.gather(inbox.http.get(url), inbox.http.get(url))
    assert first.status_code == 401
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    echoed = await inbox.http.get(url, headers={"X-Request-ID": "lb-7f3a:42"})
    assert echoed.headers.get_list("x-request-id") == ["lb-7f3a:42"]
    # Something unfit for a log line or a header is replaced, not repeated.
    for bad in ("two words", "x" * 200, "a\u00e9b"):
        r = await inbox.http.get(url, headers={"X-Request-ID": bad.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"]), bad
    # Errors carry it too, and so do the dashboard's static files.
    r = await inbox.http.get(f"{inbox.base_url}/api/nothing-here", headers={"X-Request-ID": "req-404"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "req-404"
    r = await inbox.http.get(f"{inbox.base_url}/", headers={"X-Request-ID": "req-index"})
    assert r.headers["x-request-id"] == "req-index"


async def test_one_log_line_per_request(inbox: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=logs.ACCESS_LOGGER)
    await inbox.http.get(f"{inbox.base_url}/api/me?token=secret", headers={"X-Request-ID": "ops-line-1"})
    await inbox.http.get(f"{inbox.base_url}/healthz", headers={"X-Request-ID": "ops-health-1"})
    await inbox.http.get(f"{inbox.base_url}/api/me", headers={"X-Request-ID": "ops-line-2"})

    def lines(rid: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == logs.ACCESS_LOGGER and f"request_id={rid} " in r.getMessage()]

    async def logged() -> bool:  # the line is written once the response has gone out
        return bool(lines("ops-line-2"))

    assert await eventually(logged)
    [record] = lines("ops-line-1")
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        r"method=GET path=/api/me status=401 duration_ms=\d+\.\d request_id=ops-line-1 "
        r"client=127\.0\.0\.1",
        record.getMessage(),
    ), record.getMessage()
    assert "secret" not in record.getMessage()  # no query strings (tokens) in logs
    assert not lines("ops-health-1")  # monitors' polling stays out of the INFO log

    caplog.set_level(logging.DEBUG, logger=logs.ACCESS_LOGGER)
    await inbox.http.get(f"{inbox.base_url}/healthz", headers={"X-Request-ID": "ops-health-2"})

    async def health_logged() -> bool:
        return bool(lines("ops-health-2"))

    assert await eventually(health_logged)
    assert lines("ops-health-2")[0].levelno == logging.DEBUG


async def test_webhooks_and_sends_are_logged(meta_reset: Stack, caplog: pytest.LogCaptureFixture) -> None:
    s = meta_reset
    caplog.set_level(logging.INFO)
    agent = await s.user()
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Logged", "phoneNumber": phone})
    await s.customer_writes(phone.lstrip("+"), "log me")
    r = await s.http.post(
        f"{s.base_url}/webhook", content=b'{"entry": []}', headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    assert r.status_code == 401
    assert (await agent.send(phoneNumber=phone, content="logged reply")).status_code == 201
    await s.meta_post("/simulate/fail", {"code": 131026})
    assert (await agent.send(phoneNumber=phone, content="refused reply")).status_code == 201

    def text() -> str:
        return "\n".join(r.getMessage() for r in caplog.records)

    async def all_logged() -> bool:
        return "failed" in text() and "wamid." in text()

    assert await eventually(all_logged), text()
    assert re.search(r"webhook accepted: event \d+, 1 messages", text())
    assert "webhook rejected: missing or wrong X-Hub-Signature-256" in text()
    assert re.search(r"sent message \d+ as wamid\.", text())
    assert re.search(r"send of message \d+ failed: .*code 131026", text())


async def test_log_lines_name_the_request() -> None:
    handler_filter = logs.RequestIdFilter()
    record = logging.LogRecord("server.webhook", logging.INFO, __file__, 1, "webhook accepted", None, None)
    token = logs.request_id.set("abc123")
    try:
        handler_filter.filter(record)
    finally:
        logs.request_id.reset(token)
    formatted = logging.Formatter(logs.FORMAT).format(record)
    assert formatted.endswith("server.webhook: webhook accepted request_id=abc123")
    outside = logging.LogRecord("server.app", logging.INFO, __file__, 1, "pruned", None, None)
    handler_filter.filter(outside)
    assert logging.Formatter(logs.FORMAT).format(outside).endswith("server.app: pruned")


async def test_first_start_notes() -> None:
    bare = Settings(database_url="postgresql://inbox:hunter2@db.internal/inbox")
    notes = first_start_notes(bare, 0, "http://127.0.0.1:8000")
    for name in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"):
        assert name in notes
    assert "Connect your WhatsApp number" in notes and "make demo" in notes
    assert "-m server create-user you@example.com --admin" in notes
    assert "hunter2" not in notes and "postgresql://inbox:***@db.internal/inbox" in notes
    assert len(notes.splitlines()) <= 24  # one screen
    ready = bare.with_(
        whatsapp_app_secret="s", whatsapp_verify_token="v", whatsapp_access_token="a", whatsapp_phone_number_id="1"
    )
    assert first_start_notes(ready, 1, "http://127.0.0.1:8000") == ""
    assert "No account" in first_start_notes(ready, 0, "http://127.0.0.1:8000")
    assert shown_url("sqlite:///./data/chat.db") == "sqlite:///./data/chat.db"


async def test_serve_explains_first_start_and_logs_requests(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        "DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "serve",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with httpx.AsyncClient(timeout=5) as http:

            async def up() -> bool:
                assert proc.returncode is None
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await eventually(up, timeout=30, interval=0.1)
            r = await http.get(f"http://127.0.0.1:{port}/api/me", headers={"X-Request-ID": "serve-1"})
            assert r.status_code == 401
            r = await http.post(f"http://127.0.0.1:{port}/webhook", content=b"{}", headers={"X-Request-ID": "serve-2"})
            assert r.status_code == 503
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert "Not connected to WhatsApp yet" in stderr and "WHATSAPP_PHONE_NUMBER_ID" in stderr
    assert "No account exists yet" in stderr and "create-user you@example.com --admin" in stderr
    assert re.search(
        r"INFO server\.access: method=GET path=/api/me status=401 duration_ms=\S+ request_id=serve-1", stderr
    ), stderr
    assert "webhook rejected: WHATSAPP_APP_SECRET is not set request_id=serve-2" in stderr, stderr
    assert "path=/healthz" not in stderr
    assert "Connected to database" not in stderr and "HTTP Request:" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("kind", DATABASES)
async def test_replay_webhooks_is_idempotent(kind: str, tmp_path: Path) -> None:
    async with database_url(kind, tmp_path) as url, stack(url) as s:
        agent = await s.user(admin=True)
        phones = [new_phone(), new_phone()]
        wamid = await s.customer_writes(phones[0].lstrip("+"), "first")
        await s.customer_writes(phones[1].lstrip("+"), "second", name="Second")
        await s.http.post(
            f"{s.meta_url}/simulate/inbound",
            json={"from": phones[0].lstrip("+"), "type": "reaction", "reaction": {"message_id": wamid, "emoji": "👍"}},
        )
        await s.meta_post(
            "/simulate/webhook",
            {
                "messaging_product": "whatsapp",
                "errors": [{"code": 131008, "title": "Required parameter is missing", "error_data": {"details": "x"}}],
            },
        )
        r = await agent.send(phoneNumber=phones[1], content="a reply")
        assert r.status_code == 201, r.text

        async def read() -> bool:
            messages = await agent.messages(r.json()["conversationId"])
            return messages[-1]["status"] == "read"

        assert await eventually(read)
        db = s.app.state.db

        async def snapshot() -> tuple[object, ...]:
            return (
                await db.fetch_all("SELECT id, wamid, status, content FROM messages ORDER BY id"),
                await db.fetch_all("SELECT id, unread_count, last_message_id FROM conversations ORDER BY id"),
                await db.fetch_all("SELECT message_wamid, reactor, emoji FROM reactions ORDER BY message_wamid"),
                await db.fetch_all("SELECT id, code, title FROM meta_errors ORDER BY id"),
            )

        before = await snapshot()
        assert [e["code"] for e in before[3]] == [131008]
        events = await db.fetch_val("SELECT COUNT(*) FROM webhook_events")
        last = await db.fetch_val("SELECT MAX(id) FROM webhook_events")

        async def cli(*args: str) -> str:
            env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_URL": url}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "replay-webhooks",
                *args,
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, (out, err)
            assert "Traceback" not in err.decode() and "Connected to database" not in err.decode()
            return out.decode()

        first = await cli("--all")
        assert f"replayed {events} webhook event(s), 0 still not fully processed" in first
        assert await cli("--all") == first
        assert f"event {last}: processed" in await cli("--all", "--since", str(last))
        assert "replayed 0 webhook event(s)" in await cli()  # nothing unprocessed: nothing to do
        assert await snapshot() == before
        assert await db.fetch_val("SELECT COUNT(*) FROM webhook_events") == events


async def test_readme_covers_every_setting_and_command() -> None:
    from dataclasses import fields

    from server.__main__ import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for f in fields(Settings):
        assert f"| `{f.name.upper()}` |" in readme, f"README.md, Settings: no row for {f.name.upper()}"
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command in commands:
        assert f"| `{command}" in readme, f"README.md, Run it: no row for the {command} command"
    assert (
        readme.index("## Try it in five minutes")
        < readme.index("## Connect your WhatsApp number")
        < readme.index("## Settings")
    )
    live = readme[readme.index("## Live updates") : readme.index("## Screenshot")]
    assert "?since=" in live and "BROADCAST_URL" in live and "resync" in live
    assert "![The WhatsApp Chat tab](docs/chat-tab.png)" in readme and (ROOT / "docs/chat-tab.png").is_file()
