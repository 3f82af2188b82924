"""Web Push with two server processes behind one PostgreSQL and Redis: an event is pushed once
(by the process that committed it), and a dashboard on one process silences the pushes that
a webhook taken by the other one would send."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from server.signature import sign
from tests.conftest import DATABASES
from tests.push_service import BrowserSubscription, push_service
from tests.servers import APP_SECRET, REDIS_URL, database_url, eventually, new_phone
from tests.test_multiprocess import _cli, _env, server_process, webhook_body

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif("postgresql" not in DATABASES, reason="needs PostgreSQL (TEST_DATABASES leaves it out)"),
]


async def test_pushed_once_and_presence_holds_across_processes(tmp_path: Any) -> None:
    async with push_service() as service, database_url("postgresql", tmp_path) as db_url:
        env = {**_env(db_url, REDIS_URL), "PUSH_ALLOW_HTTP": "true"}
        _cli(env, tmp_path, "create-user", "ops@example.com", "--password", "long enough pw", "--admin")
        token = _cli(env, tmp_path, "create-token", "ops@example.com")
        auth = {"Authorization": f"Bearer {token}"}
        async with server_process(env, tmp_path) as one, server_process(env, tmp_path) as two:
            async with httpx.AsyncClient(timeout=10) as http:
                device = BrowserSubscription(service.url)
                r = await http.post(f"{one}/api/push/subscriptions", json=device.to_json(), headers=auth)
                assert r.status_code == 201, r.text
                phone = new_phone().lstrip("+")

                async def customer_writes(text: str, via: str) -> None:
                    body = webhook_body(phone, text, f"wamid.push.{uuid.uuid4().hex}")
                    headers = {"X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"}
                    assert (await http.post(f"{via}/webhook", content=body, headers=headers)).status_code == 200

                async def bodies(n: int) -> list[str]:
                    async def enough() -> bool:
                        return len(service.for_token(device.token)) >= n

                    assert await eventually(enough, timeout=15)
                    return [device.decrypt(p.body)["body"] for p in service.for_token(device.token)]

                await customer_writes("first", via=two)
                assert await bodies(1) == ["first"]
                await customer_writes("second", via=one)
                # Each once: the second arriving means the first had every chance to come twice.
                assert await bodies(2) == ["first", "second"]

                # The dashboard (on process one) shows the conversation; the webhook hits two.
                conv_id = (await http.get(f"{one}/api/conversations", headers=auth)).json()[0]["id"]
                tab = uuid.uuid4().hex
                r = await http.put(
                    f"{one}/api/presence", json={"clientId": tab, "conversationId": conv_id}, headers=auth
                )
                assert r.status_code == 200
                await customer_writes("while looking", via=two)
                await http.put(f"{one}/api/presence", json={"clientId": tab, "conversationId": None}, headers=auth)
                await customer_writes("after", via=two)
                assert await bodies(3) == ["first", "second", "after"]
