"""Accounts and tokens from the command line, run as a person runs it: `python -m server …` in
its own process (on a terminal when a password is typed), next to a running server on the same
database, whose websockets must close when the CLI ends a user's tokens."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import DATABASES
from tests.servers import PASSWORD, REDIS_URL, database_url, new_phone, stack
from tests.test_cli import CLI, assert_clean_error

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_PASSWORD = "another long secret"


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path)


def on_terminal(cli: CLI, args: list[str], answers: list[str]) -> tuple[int, str]:
    """Runs the command with a pseudo-terminal as its controlling terminal, typing each answer
    after its prompt (getpass reads /dev/tty, as it does for a person)."""
    leader, follower = pty.openpty()

    def own_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "server", *args],
        cwd=cli.cwd,
        env=cli.env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        preexec_fn=own_terminal,
    )
    os.close(follower)
    seen = b""

    def read_some(timeout: float = 30) -> bool:
        nonlocal seen
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no prompt; so far: {seen!r}")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the command exited and closed the terminal
            return False
        seen += chunk
        return bool(chunk)

    try:
        for n, answer in enumerate(answers, start=1):
            while seen.count(b"assword") < n:
                if not read_some():
                    break
            os.write(leader, answer.encode() + b"\r")
        while read_some():
            pass
        return proc.wait(30), seen.decode(errors="replace")
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_create_user_checks_the_email_and_asks_the_password_twice(cli: CLI) -> None:
    bad, empty = await asyncio.gather(
        cli("create-user", "not-an-email", "--password", PASSWORD), cli("create-user", "", "--password", PASSWORD)
    )
    for result in (bad, empty):
        assert_clean_error(result, 1, "email must be an email address, like ana@example.com")
        assert len(result.err.strip().splitlines()) == 1, result.err

    code, shown = await asyncio.to_thread(on_terminal, cli, ["create-user", "ana@example.com"], [PASSWORD, "typo"])
    assert code == 2 and "the two passwords are not the same" in shown, shown
    assert PASSWORD not in shown  # not echoed
    code, shown = await asyncio.to_thread(
        on_terminal, cli, ["create-user", "Ana@Example.com", "--name", "Ana"], [PASSWORD, PASSWORD]
    )
    assert code == 0 and "Password again:" in shown and "created user ana@example.com" in shown, shown

    listed = await cli("list-users")
    assert listed.code == 0, listed
    rows = [line.split() for line in listed.out.strip().splitlines()]
    assert rows[0][:4] == ["id", "email", "role", "active"]
    assert [r[1:] for r in rows[1:]] == [["ana@example.com", "agent", "yes", "Ana"]]  # no bad email, no typo


async def _closed(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


async def _login(http: httpx.AsyncClient, base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(f"{base}/api/auth/login", json={"email": email, "password": password})


@pytest.mark.parametrize("setup", ["sqlite", "postgresql+redis"])
async def test_set_password_deactivate_and_tokens_reach_the_running_server(
    setup: str, cli: CLI, tmp_path: Path
) -> None:
    if setup != "sqlite" and "postgresql" not in DATABASES:
        pytest.skip("needs PostgreSQL (TEST_DATABASES leaves it out)")
    kind = setup.split("+")[0]
    async with database_url(kind, tmp_path) as db_url:
        cli.env["DATABASE_URL"] = db_url
        broadcast = {}
        if setup.endswith("+redis"):
            cli.env["BROADCAST_URL"] = REDIS_URL
            broadcast = {"broadcast_url": REDIS_URL}
        for args in (
            ("create-user", "boss@example.com", "--password", PASSWORD, "--admin"),
            ("create-user", "ana@example.com", "--password", PASSWORD),
        ):
            assert (await cli(*args)).code == 0
        made = await cli("create-token", "ana@example.com", "--name", "crm sync")
        assert made.code == 0, made
        script = made.out.strip()
        assert "shown only now" in made.err

        async with stack(db_url, **broadcast) as s:
            http, ws_url = s.http, s.base_url.replace("http://", "ws://") + "/ws"
            boss = {"Authorization": f"Bearer {(await _login(http, s.base_url, 'boss@example.com')).json()['token']}"}
            ana_session = (await _login(http, s.base_url, "ana@example.com")).json()["token"]
            ana = {"Authorization": f"Bearer {ana_session}"}
            phone = new_phone()
            invitation = {"name": "Asha", "phoneNumber": phone}
            r = await http.post(f"{s.base_url}/api/invitations", json=invitation, headers=ana)
            assert r.status_code == 201
            await s.customer_writes(phone.lstrip("+"), "hello Ana")

            # Tokens: listed by the CLI without their secret, revoked, and the socket closes.
            listed = await cli("list-tokens")
            assert listed.code == 0 and "crm sync" in listed.out and "ana@example.com" in listed.out, listed
            assert script not in listed.out and ana_session not in listed.out
            assert "session" not in listed.out and "session" in (await cli("list-tokens", "--all")).out
            token_id = next(line.split()[0] for line in listed.out.splitlines() if "crm sync" in line)
            async with connect(ws_url, additional_headers={"Authorization": f"Bearer {script}"}) as ws:
                await asyncio.sleep(0.2)
                revoked = await cli("revoke-token", token_id)
                assert revoked.code == 0 and f"revoked script token {token_id} (crm sync) of ana" in revoked.out
                code, reason = await _closed(ws)
                assert code == 4401
                # Through BROADCAST_URL the event closes it; on one memory:// process the sweep.
                assert reason in ("signed out: the token was revoked", "signed out: the session ended")
            by_script = {"Authorization": f"Bearer {script}"}
            assert (await http.get(f"{s.base_url}/api/me", headers=by_script)).status_code == 401
            assert_clean_error(await cli("revoke-token", token_id), 1, f"token {token_id} not found")

            # A new password: the old one stops, Ana's logins end, her websocket closes.
            async with connect(ws_url, additional_headers=ana) as ws:
                await asyncio.sleep(0.2)
                changed = await cli("set-password", "ana@example.com", stdin=NEW_PASSWORD + "\n")
                assert changed.code == 0 and "1 session(s) signed out" in changed.out, changed
                assert (await _closed(ws))[0] == 4401
            assert (await http.get(f"{s.base_url}/api/me", headers=ana)).status_code == 401
            assert (await _login(http, s.base_url, "ana@example.com")).status_code == 401
            r = await _login(http, s.base_url, "ana@example.com", NEW_PASSWORD)
            assert r.status_code == 200
            ana = {"Authorization": f"Bearer {r.json()['token']}"}
            assert_clean_error(await cli("set-password", "nobody@example.com", stdin=NEW_PASSWORD + "\n"), 1, "no user")
            assert_clean_error(await cli("set-password", "ana@example.com", stdin="password\n"), 2, "common")

            # Deactivated from the CLI: as from the Team tab.
            async with connect(ws_url, additional_headers=ana) as ws:
                await asyncio.sleep(0.2)
                done = await cli("deactivate-user", "ana@example.com")
                assert done.code == 0 and "1 conversation(s) back to the queue" in done.out, done
                assert (await _closed(ws))[0] == 4401
            assert (await http.get(f"{s.base_url}/api/me", headers=ana)).status_code == 401
            assert (await _login(http, s.base_url, "ana@example.com", NEW_PASSWORD)).status_code == 401
            convs = (await http.get(f"{s.base_url}/api/conversations", headers=boss)).json()
            [conv] = [c for c in convs if c["phoneNumber"] == phone]
            assert conv["assigneeId"] is None
            messages = (await http.get(f"{s.base_url}/api/conversations/{conv['id']}/messages", headers=boss)).json()
            assert any("deactivated" in (m["content"] or "") for m in messages if m["type"] == "activity"), messages
            users = {u["email"]: u for u in (await http.get(f"{s.base_url}/api/users", headers=boss)).json()}
            assert users["ana@example.com"]["active"] is False
            rows = [line.split() for line in (await cli("list-users")).out.splitlines()]
            assert ["ana@example.com", "agent", "no"] in [r[1:4] for r in rows], rows
            # The last admin cannot be deactivated (nobody could sign in to undo it).
            assert_clean_error(await cli("deactivate-user", "boss@example.com"), 1, "last active admin")
