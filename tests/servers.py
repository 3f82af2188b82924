"""Real servers for tests: uvicorn on free loopback ports, an app wired to the Meta stand-in,
and a fresh SQLite file or PostgreSQL database for each stack."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import uvicorn

from server.__main__ import InboxServer, uvicorn_config
from server.app import create_app
from server.auth import hash_password, new_token
from server.fake_meta import FakeMeta
from server.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "1000000001"
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(
    config: uvicorn.Config, server_cls: type[uvicorn.Server] = InboxServer
) -> AsyncIterator[uvicorn.Server]:
    server = server_cls(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def database_url(kind: str, tmp_path: Any) -> AsyncIterator[str]:
    """A fresh database of `kind`, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/chat-{uuid.uuid4().hex[:8]}.db"
        return
    name = "inbox_test_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class Stack:
    """One inbox server and its Meta stand-in, talking to each other over loopback."""

    base_url: str
    meta_url: str
    app: Any
    meta: FakeMeta
    settings: Settings
    http: httpx.AsyncClient
    _password_hash: str = ""
    _users: int = field(default=0)

    async def user(self, admin: bool = False) -> Agent:
        """A new account, logged in through the API."""
        if not self._password_hash:
            self._password_hash = await hash_password(PASSWORD)
        self._users += 1
        email = f"agent{self._users}-{uuid.uuid4().hex[:6]}@example.com"
        user_id = await self.app.state.store.create_user(email, self._password_hash, admin)
        r = await self.http.post(f"{self.base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return Agent(self, user_id, email, r.json()["token"])

    async def customer_writes(self, phone: str, text: str = "hello", name: str = "Customer", **extra: Any) -> str:
        """A customer message through the stand-in (signed webhook); returns its wamid."""
        r = await self.http.post(
            f"{self.meta_url}/simulate/inbound", json={"from": phone, "name": name, "text": text, **extra}
        )
        assert r.status_code == 200, r.text
        assert r.json()["webhookStatus"] == 200, r.json()
        return r.json()["wamid"]

    async def meta_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(f"{self.meta_url}{path}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def meta_requests(self) -> list[dict[str, Any]]:
        return (await self.http.get(f"{self.meta_url}/simulate/requests")).json()


@dataclass
class Agent:
    stack: Stack
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.stack.http.get(f"{self.stack.base_url}{path}", params=params, headers=self.headers)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.stack.http.post(f"{self.stack.base_url}{path}", json=json, headers=self.headers, **kwargs)

    async def conversations(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/api/conversations", **params)
        assert r.status_code == 200, r.text
        return r.json()

    async def conversation_with(self, phone: str) -> dict[str, Any] | None:
        for c in await self.conversations(search=phone.lstrip("+"), limit=500):
            if c["phoneNumber"] == phone:
                return c
        return None

    async def messages(self, conversation_id: int, **params: Any) -> list[dict[str, Any]]:
        r = await self.get(f"/api/conversations/{conversation_id}/messages", **params)
        assert r.status_code == 200, r.text
        return r.json()

    async def send(self, **body: Any) -> httpx.Response:
        return await self.post("/api/conversations/send", json=body)


@contextlib.asynccontextmanager
async def stack(
    db_url: str, *, uvicorn_options: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Stack]:
    """`overrides` are Settings; `uvicorn_options` go to `uvicorn_config` (e.g. `ws=`)."""
    app_port, meta_port = free_port(), free_port()
    base_url, meta_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{meta_port}"
    settings = Settings(
        database_url=db_url,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_access_token=ACCESS_TOKEN,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_api_base=f"{meta_url}/v21.0",
        default_region="TZ",
        send_retry_delays=(0.05, 0.1),
        # Every test logs in from 127.0.0.1: the per-address login limit is tested on its own.
        login_attempts_per_address=100_000,
    ).with_(**overrides)
    meta = FakeMeta(
        f"{base_url}/webhook", APP_SECRET, access_token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID, status_delay=0.02
    )
    app = create_app(settings)
    meta_config = uvicorn.Config(meta.app, host="127.0.0.1", port=meta_port, ws="none", log_level="warning")
    async with (
        serve(meta_config, uvicorn.Server),
        serve(uvicorn_config(app, "127.0.0.1", app_port, log_level="warning", **(uvicorn_options or {}))),
    ):
        async with httpx.AsyncClient(timeout=10) as http:
            yield Stack(base_url, meta_url, app, meta, settings, http)


async def eventually(check: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll `check()` until it returns something truthy; the last value otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(interval)


async def account(
    inbox: Stack, admin: bool = False, name: str | None = None, password_hash: str = "no password"
) -> Agent:
    """A new account with an API token, skipping the (deliberately slow) password login,
    which `Stack.user()` goes through. A `name` also starts the email (mentions find both)."""
    local = name.lower().replace(" ", ".") if name else "user"
    email = f"{local}-{uuid.uuid4().hex[:10]}@example.com"
    store = inbox.app.state.store
    user_id = await store.create_user(email, password_hash, admin, name)
    token, hashed = new_token()
    await store.add_token(user_id, hashed)
    return Agent(inbox, user_id, email, token)


def new_phone() -> str:
    """A fresh valid Tanzanian mobile number in E.164, so tests never share a conversation."""
    return "+2557" + str(uuid.uuid4().int % 10**8).zfill(8)
