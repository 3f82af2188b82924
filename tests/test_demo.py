"""`python -m server demo` as `make demo` runs it: its own process, both servers, simulated
customers; an agent logs in with the printed credentials, sees customers write, replies and
sees the reply read; Ctrl+C stops everything cleanly. A second run continues the first."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.demo import CAFE_NUMBER_ID, PHONE_NUMBER_ID, QUIET_INVITATION, THANKS, Photo, Simulator, customers
from tests.servers import database_url, eventually, free_port, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

NUMBERS = (PHONE_NUMBER_ID, CAFE_NUMBER_ID)

ROOT = Path(__file__).resolve().parent.parent


class DemoProcess:
    """The demo in a subprocess, its output read as it comes."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.cwd = cwd
        self.args = args
        self.port, self.meta_port = free_port(), free_port()
        self.out: list[str] = []
        self.err: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, wait_for_banner: bool = True) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            # Must be ignored: the demo keeps to its own database.
            "DATABASE_URL": f"sqlite:///{self.cwd}/not-the-demo.db",
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "demo",
            "--port",
            str(self.port),
            "--meta-port",
            str(self.meta_port),
            *self.args,
            cwd=self.cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout, self.out)),
            asyncio.create_task(self._read(self.proc.stderr, self.err)),
        ]
        if wait_for_banner:

            async def banner() -> bool:
                assert self.proc is not None
                assert self.proc.returncode is None, self.output
                return "Press Ctrl+C to stop." in self.stdout

            assert await eventually(banner, timeout=30, interval=0.05), self.output

    @staticmethod
    async def _read(stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode("utf-8", "replace"))

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def output(self) -> str:
        return "--- stdout\n" + self.stdout + "--- stderr\n" + "".join(self.err)

    def credentials(self) -> tuple[str, list[tuple[str, str]]]:
        url = re.search(r"Open\s+(http://\S+)", self.stdout)
        logins = re.findall(r"(?:Log in as|or)\s+(\S+@\S+) / (\S+)", self.stdout)
        assert url and logins, self.output
        return url.group(1), logins

    async def interrupt(self) -> int:
        """Ctrl+C, then the exit code once the process and its output are done."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


async def login(http: httpx.AsyncClient, url: str, email: str, password: str) -> dict[str, str]:
    r = await http.post(f"{url}/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def get(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    r = await http.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_demo_shows_the_whole_loop_and_stops_cleanly(tmp_path: Path) -> None:
    people = customers()
    demo = DemoProcess(tmp_path, "--customer-interval", "0.3", "--status-delay", "0.05")
    try:
        await demo.start()
        url, logins = demo.credentials()
        assert url == f"http://127.0.0.1:{demo.port}"
        (admin_email, admin_password), (agent_email, agent_password), (second_email, _) = logins
        assert admin_email == "admin@demo.local"
        assert (agent_email, second_email) == ("sam@demo.local", "ana@demo.local")
        async with httpx.AsyncClient(timeout=10) as http:
            admin = await login(http, url, admin_email, admin_password)
            me = await get(http, f"{url}/api/me", admin)
            assert me["isAdmin"] is True

            # Seeded through the real loop: every customer has a conversation, the uninvited
            # one is unassigned, the others belong to whoever invited them.
            conversations = await get(http, f"{url}/api/conversations", admin)
            by_phone = {c["phoneNumber"]: c for c in conversations}
            assert set(by_phone) == {c.phone for c in people}, conversations
            assert [c.name for c in people if by_phone[c.phone]["ownerId"] is None] == ["Jordan Reyes"]
            # Two business numbers: the café's customer is on the café's number.
            numbers = await get(http, f"{url}/api/numbers", admin)
            listed = [(n["id"], n["displayName"]) for n in numbers]
            assert listed == [(PHONE_NUMBER_ID, "Bakery"), (CAFE_NUMBER_ID, "Café")]
            assert {c.phone: c.writes_to for c in people} == {p: by_phone[p]["businessNumberId"] for p in by_phone}
            assert CAFE_NUMBER_ID in {c.writes_to for c in people}
            invitations = await get(http, f"{url}/api/invitations", admin)
            assert {i["phoneNumber"] for i in invitations} == {c.phone for c in people if c.invited_by} | {
                QUIET_INVITATION[1]
            }

            # The seeded reply went out through the stand-in and was read.
            amina = by_phone[people[0].phone]["id"]

            async def seeded_reply_read() -> bool:
                messages = await get(http, f"{url}/api/conversations/{amina}/messages", admin)
                return any(m["direction"] == "outbound" and m["status"] == "read" for m in messages)

            assert await eventually(seeded_reply_read, timeout=10), demo.output

            # The hard parts are there to see: a conversation whose 24-hour window has closed
            # (only a template reaches Fatuma), a reply that failed with Meta's reason (Kwame),
            # a photo and a voice note (Lukas).
            first_names = {c.name.split()[0]: by_phone[c.phone] for c in people}
            fatuma, kwame, lukas = first_names["Fatuma"], first_names["Kwame"], first_names["Lukas"]
            now = datetime.now(UTC)
            assert datetime.fromisoformat(fatuma["windowOpenUntil"]) < now, fatuma
            assert datetime.fromisoformat(kwame["windowOpenUntil"]) > now, kwame
            kwame_messages = await get(http, f"{url}/api/conversations/{kwame['id']}/messages", admin)

            async def kwame_failed() -> Any:
                messages = await get(http, f"{url}/api/conversations/{kwame['id']}/messages", admin)
                return next((m for m in messages if m["status"] == "failed"), None)

            failed = await eventually(kwame_failed, timeout=10)
            assert failed and "could not deliver" in str(failed["error"]), kwame_messages
            lukas_messages = await get(http, f"{url}/api/conversations/{lukas['id']}/messages", admin)
            assert {"image", "audio"} <= {m["type"] for m in lukas_messages}, lukas_messages

            # A simulated customer writes something new.
            seen = max(c["lastMessage"]["id"] for c in conversations)

            async def new_customer_message() -> dict[str, Any] | None:
                for c in await get(http, f"{url}/api/conversations", admin):
                    last = c["lastMessage"]
                    if last and last["id"] > seen and last["direction"] == "inbound" and last["content"]:
                        return c
                return None

            conversation = await eventually(new_customer_message, timeout=15)
            assert conversation, demo.output

            # The agent replies; the stand-in reports sent, delivered, read.
            r = await http.post(
                f"{url}/api/conversations/send",
                headers=admin,
                json={"conversationId": conversation["id"], "content": "Thanks for writing!"},
            )
            assert r.status_code == 201, r.text
            reply_id = r.json()["id"]

            async def reply_status() -> str | None:
                messages = await get(http, f"{url}/api/conversations/{conversation['id']}/messages", admin)
                status = next(m["status"] for m in messages if m["id"] == reply_id)
                return status if status == "read" else None

            assert await eventually(reply_status, timeout=10) == "read", demo.output
            r = await http.post(f"{url}/api/conversations/{conversation['id']}/read", headers=admin)
            assert r.status_code == 200 and r.json()["unreadCount"] == 0, r.text

            # A team: the agent sees the conversations of the customers Sam invited and the
            # unassigned queue (Jordan), not Ana's or the admin's; everyone has a name.
            agent = await login(http, url, agent_email, agent_password)
            mine = await get(http, f"{url}/api/conversations", agent)
            theirs = sorted(c.phone for c in people if c.invited_by in (agent_email, None))
            assert sorted(c["phoneNumber"] for c in mine) == theirs
            team = {u["email"]: u["name"] for u in await get(http, f"{url}/api/users", agent)}
            assert team == {"admin@demo.local": "Rosa (owner)", "sam@demo.local": "Sam", "ana@demo.local": "Ana"}
            assert (await get(http, f"{url}/api/me", agent))["seesUnassigned"] is True
            ana_phones = {c.phone for c in people if c.invited_by == second_email}
            assert ana_phones and {by_phone[p]["assigneeName"] for p in ana_phones} == {"Ana"}

            # The README's first five minutes: Sam claims Jordan from the queue, answers,
            # resolves; then hands Ngozi's conversation back to the queue.
            jordan = next(by_phone[c.phone] for c in people if c.invited_by is None)
            sam_id = (await get(http, f"{url}/api/me", agent))["id"]
            r = await http.post(
                f"{url}/api/conversations/{jordan['id']}/assign", headers=agent, json={"userId": sam_id}
            )
            assert r.status_code == 200 and r.json()["assigneeName"] == "Sam", r.text
            r = await http.post(
                f"{url}/api/conversations/{jordan['id']}/status", headers=agent, json={"status": "resolved"}
            )
            assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
            ngozi = next(by_phone[c.phone] for c in people if c.invited_by == agent_email)
            r = await http.post(f"{url}/api/conversations/{ngozi['id']}/assign", headers=agent, json={"userId": None})
            assert r.status_code == 200 and r.json()["assigneeId"] is None, r.text

            # Kwame's failed reply goes out with Retry, and then he answers it (never before).
            r = await http.post(f"{url}/api/conversations/{kwame['id']}/messages/{failed['id']}/retry", headers=admin)
            assert r.status_code == 200, r.text

            async def kwame_answers() -> Any:
                messages = await get(http, f"{url}/api/conversations/{kwame['id']}/messages", admin)
                later = [m["content"] for m in messages if m["direction"] == "inbound" and m["id"] > failed["id"]]
                return "Great, I'll come at 2. Thanks!" in later

            assert await eventually(kwame_answers, timeout=20), demo.output
            # A few quick replies: the team's, and one of Sam's own.
            quick = {(q["shortcut"], q["shared"]) for q in await get(http, f"{url}/api/quick-replies", agent)}
            assert quick == {("hours", True), ("ready", True), ("delivery", True), ("thanks", False)}

        code = await demo.interrupt()
    finally:
        await demo.kill()
    assert code == 0, demo.output
    assert "Traceback" not in demo.output, demo.output
    assert "Demo stopped" in demo.stdout
    assert "writes:" in demo.output  # the simulator tells what happens
    assert (tmp_path / "data" / "demo.db").is_file()
    assert not (tmp_path / "not-the-demo.db").exists()

    # Run again on the same directory: same accounts, nothing seeded twice.
    again = DemoProcess(tmp_path, "--customer-interval", "60")
    try:
        await again.start()
        url, logins = again.credentials()
        async with httpx.AsyncClient(timeout=10) as http:
            admin = await login(http, url, *logins[0])
            conversations = await get(http, f"{url}/api/conversations", admin)
            assert {c["phoneNumber"] for c in conversations} == {c.phone for c in people}
            assert len(await get(http, f"{url}/api/invitations", admin)) == len(invitations)
            assert len(await get(http, f"{url}/api/quick-replies", admin)) == 3  # not added twice
            messages = await get(http, f"{url}/api/conversations/{amina}/messages", admin)
            seeded = [m for m in messages if m["direction"] == "outbound" and m["content"].startswith("Hi Amina")]
            assert len(seeded) == 1
        code = await again.interrupt()
    finally:
        await again.kill()
    assert code == 0 and "Traceback" not in again.output, again.output


async def test_demo_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        demo = DemoProcess(tmp_path)
        demo.port = busy.getsockname()[1]
        try:
            await demo.start(wait_for_banner=False)
            assert demo.proc is not None
            code = await asyncio.wait_for(demo.proc.wait(), 30)
            await asyncio.gather(*demo._readers)
        finally:
            await demo.kill()
    assert code == 1, demo.output
    err = "".join(demo.err)
    assert f"cannot listen on 127.0.0.1:{demo.port}" in err and "--port" in err, demo.output
    assert "Traceback" not in demo.output


async def test_demo_help(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "demo",
        "--help",
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    for flag in ("--port", "--meta-port", "--customer-interval", "--database-url", "--status-delay"):
        assert flag in out.decode()
    assert not (tmp_path / "data").exists()


class MiddleRandom(random.Random):
    """Every coin lands in the middle: a customer who is owed an answer writes one (no reaction)."""

    def random(self) -> float:
        return 0.5


class LowRandom(random.Random):
    """Every coin lands low: an owed customer answers, quoting the reply."""

    def random(self) -> float:
        return 0.1


async def unread(admin: Any, phone: str) -> int:
    conversation = await admin.conversation_with(phone)
    return conversation["unreadCount"] if conversation else 0


async def test_simulated_customers_wait_for_answers_and_never_thank_a_failed_reply(tmp_path: Path) -> None:
    async with (
        database_url("sqlite", tmp_path) as url,
        stack(
            url, media_dir=str(tmp_path / "media"), default_region="", whatsapp_phone_number_id=",".join(NUMBERS)
        ) as s,
    ):
        people = [c for c in customers() if not c.patient]
        lukas = next(c for c in people if c.name.startswith("Lukas"))
        simulator = Simulator(s.meta, s.app.state.db, people, 0.01, rng=MiddleRandom())
        admin = await s.user(admin=True)

        # Left alone, every customer opens a topic, nudges once, then waits: the unread
        # counts stop growing, however long nobody answers.
        for _ in range(40):
            await simulator.tick()
        counts = {c.phone: await unread(admin, c.phone) for c in people}
        for _ in range(40):
            await simulator.tick()
        assert {c.phone: await unread(admin, c.phone) for c in people} == counts
        assert all(1 <= n <= 5 for n in counts.values()), counts

        # Lukas sent a photo and a voice note, both downloaded.
        conversation = await admin.conversation_with(lukas.phone)
        assert conversation is not None
        messages = await admin.messages(conversation["id"])
        assert await eventually(lambda: _media_ready(admin, conversation["id"], "image"))
        messages = await admin.messages(conversation["id"])
        kinds = {m["type"]: m for m in messages if m["media"]}
        r = await s.http.get(f"{s.base_url}/api/media/{kinds['image']['media']['id']}", headers=admin.headers)
        assert r.status_code == 200 and r.content == Photo("This is the kind of design Mia loves").png()
        assert "audio" in kinds and kinds["audio"]["media"].get("voice") is True, kinds

        # A reply that fails never gets an answer: the customer still waits.
        before = len(messages)
        s.meta.fail_sends_to(lukas.wa_id, 131026)
        r = await admin.send(conversationId=conversation["id"], content="Lovely, we can do that!")
        assert r.status_code == 201, r.text

        async def failed() -> bool:
            return (await admin.messages(conversation["id"]))[-1]["status"] == "failed"

        assert await eventually(failed)
        for _ in range(10):
            await simulator.tick()
        assert len(await admin.messages(conversation["id"])) == before + 1

        # A reply that reaches him: at the next tick Lukas goes on with the script.
        r = await admin.send(conversationId=conversation["id"], content="Lovely, we can do that! (again)")
        assert r.status_code == 201, r.text

        async def answered() -> dict[str, Any] | None:
            await simulator.tick()
            last = (await admin.messages(conversation["id"]))[-1]
            return last if last["direction"] == "inbound" else None

        last = await eventually(answered)
        assert last and "strawberries" in last["content"], last
        assert last["content"] not in THANKS

        # Customers quote the reply they answer now and then (here: the coin says so).
        simulator.rng = LowRandom()
        r = await admin.send(conversationId=conversation["id"], content="Strawberries it is.")
        assert r.status_code == 201, r.text
        quoted = await eventually(answered)
        assert quoted and quoted["replyTo"] and quoted["replyTo"]["id"] == r.json()["id"], quoted


async def _media_ready(admin: Any, conversation_id: int, kind: str) -> bool:
    messages = await admin.messages(conversation_id)
    return any(m["type"] == kind and m["media"]["status"] == "ready" for m in messages)
