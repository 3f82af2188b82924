"""Login floods against real servers: throttled per account and per address (429 with
Retry-After), hashes bounded on a pool of their own (memory flat, static files not stuck
behind argon2), the flood logged once, and the real user back in once the window passes.
Common passwords are refused wherever a password is set."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from server.signature import sign
from tests.conftest import DATABASES
from tests.processes import cli, server_env, server_process
from tests.servers import APP_SECRET, PASSWORD, database_url, new_phone, stack
from tests.test_multiprocess import webhook_body

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("kind", DATABASES)
async def test_account_and_address_are_throttled_then_the_user_logs_in(kind: str, tmp_path: Any) -> None:
    async with (
        database_url(kind, tmp_path) as url,
        stack(url, login_window_seconds=10, login_attempts_per_account=5, login_attempts_per_address=12) as inbox,
    ):
        agent = await inbox.user()
        login = f"{inbox.base_url}/api/auth/login"

        async def attempt(email: str, address: str, password: str = "wrong password!") -> httpx.Response:
            return await inbox.http.post(
                login, json={"email": email, "password": password}, headers={"X-Forwarded-For": address}
            )

        # One account from many addresses: past 5 attempts, 429 without hashing anything.
        # (The window is long enough that a loaded machine finishes the hashes inside it.)
        answers = await asyncio.gather(*(attempt(agent.email, f"203.0.113.{i}") for i in range(8)))
        assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 3
        refused = next(r for r in answers if r.status_code == 429)
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 10
        assert refused.json()["code"] == "too_many_requests"
        assert "too many sign-in attempts" in refused.json()["error"]
        # Even the right password waits for the window: the account is locked for now.
        assert (await attempt(agent.email, "198.51.100.1", PASSWORD)).status_code == 429

        # One address trying many accounts: past 12 attempts, 429.
        answers = await asyncio.gather(*(attempt(f"nobody{i}@example.com", "192.0.2.7") for i in range(14)))
        assert sorted(r.status_code for r in answers) == [401] * 12 + [429] * 2

        # Once the window has passed, the real user logs in.
        await asyncio.sleep(retry_after + 0.2)
        r = await attempt(agent.email, "198.51.100.1", PASSWORD)
        assert r.status_code == 200, r.text
        assert r.json()["token"]


@pytest.mark.skipif("sqlite" not in DATABASES, reason="runs on SQLite")
async def test_flood_keeps_memory_flat_and_is_logged_once(tmp_path: Any) -> None:
    async with database_url("sqlite", tmp_path) as url:
        env = server_env(url)
        done = cli(env, tmp_path, "create-user", "boss@example.com", "--password", PASSWORD)
        assert done.returncode == 0, done.stderr
        async with server_process(env, tmp_path, log_level="info") as server, httpx.AsyncClient(timeout=60) as http:
            peak_before = server.status_kb("VmHWM")
            body = {"email": "boss@example.com", "password": "not the password"}
            statuses: list[int] = []
            for _ in range(5):  # 200 wrong logins, 40 at a time, from one address
                login = f"{server.url}/api/auth/login"
                answers = await asyncio.gather(*(http.post(login, json=body) for _ in range(40)))
                statuses += [r.status_code for r in answers]
            peak_after = server.status_kb("VmHWM")
            print(f"server peak RSS {peak_before / 1024:.0f} MB before, {peak_after / 1024:.0f} MB after the flood")
            assert statuses.count(401) <= 10 and statuses.count(429) >= 190, statuses
            assert peak_after - peak_before < 200 * 1024, (peak_before, peak_after)
            await asyncio.sleep(0.5)  # let the last lines reach the log
            lines = server.output().splitlines()
            throttled = [line for line in lines if "login throttled" in line]
            # Once for the account, once for the address: not once per attempt.
            assert len(throttled) == 2, throttled
            assert sum("account boss@example.com" in line for line in throttled) == 1, throttled
            assert sum("address 127.0.0.1" in line for line in throttled) == 1, throttled
            login_lines = [line for line in lines if "/api/auth/login" in line]
            assert len(login_lines) <= 12, login_lines[:20]


@pytest.mark.skipif("sqlite" not in DATABASES, reason="runs on SQLite")
async def test_pages_and_webhooks_do_not_wait_behind_password_hashes(tmp_path: Any) -> None:
    """80 logins from 80 addresses at once (under every throttle): `/`, a static file and a
    signed webhook are answered while the hashes are still being worked through."""
    async with database_url("sqlite", tmp_path) as url:
        async with server_process(server_env(url), tmp_path) as server, httpx.AsyncClient(timeout=120) as http:
            hashed: list[int] = []

            async def login(i: int) -> None:
                r = await http.post(
                    f"{server.url}/api/auth/login",
                    json={"email": f"flood{i}@example.com", "password": "not the password"},
                    headers={"X-Forwarded-For": f"10.{i // 250}.{i % 250}.1"},
                )
                if r.status_code == 401:  # a hash ran for it
                    hashed.append(i)

            flood = [asyncio.create_task(login(i)) for i in range(80)]
            await asyncio.sleep(0.5)  # the logins are in the server's hands
            phone = new_phone().lstrip("+")
            raw = webhook_body(phone, "during the flood", f"wamid.flood.{phone}")
            answered_after: dict[str, int] = {}

            async def fetch(name: str, request: Any) -> None:
                r = await request
                assert r.status_code == 200, (name, r.status_code, r.text[:200])
                answered_after[name] = len(hashed)

            await asyncio.gather(
                fetch("/", http.get(f"{server.url}/")),
                fetch("/static/app.js", http.get(f"{server.url}/static/app.js")),
                fetch(
                    "webhook",
                    http.post(
                        f"{server.url}/webhook",
                        content=raw,
                        headers={"X-Hub-Signature-256": sign(APP_SECRET, raw), "Content-Type": "application/json"},
                    ),
                ),
            )
            await asyncio.gather(*flood)
            print(f"answered after this many hashed logins: {answered_after}; {len(hashed)} logins hashed in all")
            assert hashed, "no login was hashed at all"
            for name, count in answered_after.items():
                assert count < 20, (name, count)


async def test_create_user_refuses_common_passwords(tmp_path: Any) -> None:
    async with database_url("sqlite", tmp_path) as url:
        env = server_env(url)
        for password in ["password", "aaaaaaaa", "12345678", "qwertyuiop", "Password1"]:
            done = cli(env, tmp_path, "create-user", "weak@example.com", "--password", password)
            assert done.returncode == 2, done
            assert re.search(r"common|easy to guess", done.stderr), done.stderr
            assert "Traceback" not in done.stderr
        done = cli(env, tmp_path, "create-user", "weak@example.com", "--password", "short")
        assert done.returncode == 2 and "at least 8 characters" in done.stderr, done.stderr
        done = cli(env, tmp_path, "create-user", "ok@example.com", "--password", PASSWORD)
        assert done.returncode == 0, done.stderr
