"""READ_RECEIPTS=on_open|on_reply|never: when the customer gets blue ticks, seen from the Meta
stand-in (the mark-read calls it receives), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from server.settings import SettingError, Settings
from tests.conftest import DATABASES
from tests.servers import Agent, Stack, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=DATABASES)
async def stacks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """One server per policy, all on one database kind (each its own database)."""
    out: dict[str, Stack] = {}
    async with database_url(request.param, tmp_path_factory.mktemp("rr1")) as url1:
        async with database_url(request.param, tmp_path_factory.mktemp("rr2")) as url2:
            async with database_url(request.param, tmp_path_factory.mktemp("rr3")) as url3:
                async with stack(url1) as default, stack(url2, read_receipts="on_reply") as on_reply:
                    async with stack(url3, read_receipts="never") as never:
                        out.update(on_open=default, on_reply=on_reply, never=never)
                        yield out


async def conversation(inbox: Stack, agent: Agent, text: str) -> tuple[int, str, str]:
    """A customer of `agent` writes: (conversation id, phone, wamid)."""
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Tick Customer", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    wamid = await inbox.customer_writes(phone.lstrip("+"), text)
    conv = await agent.conversation_with(phone)
    assert conv is not None
    return conv["id"], phone, wamid


async def reply(agent: Agent, conv_id: int, text: str) -> None:
    r = await agent.send(conversationId=conv_id, content=text)
    assert r.status_code == 201, r.text


async def test_on_open_is_the_default_and_ticks_when_the_assignee_opens(stacks: dict[str, Stack]) -> None:
    inbox = stacks["on_open"]
    assert inbox.settings.read_receipts == "on_open"
    ana = await inbox.user()
    conv_id, _, wamid = await conversation(inbox, ana, "is the bread ready?")
    assert wamid not in inbox.meta.marked_read
    assert (await ana.post(f"/api/conversations/{conv_id}/read")).status_code == 200
    assert await eventually(lambda: _async(wamid in inbox.meta.marked_read))


async def test_on_reply_ticks_only_when_someone_answers(stacks: dict[str, Stack]) -> None:
    inbox = stacks["on_reply"]
    ana = await inbox.user()
    conv_id, phone, wamid = await conversation(inbox, ana, "do you deliver?")
    r = await ana.post(f"/api/conversations/{conv_id}/read")
    assert r.status_code == 200 and r.json()["unreadCount"] == 0  # the badge clears all the same
    await reply(ana, conv_id, "One moment, checking.")
    assert await eventually(lambda: _async(wamid in inbox.meta.marked_read))
    assert inbox.meta.marked_read.count(wamid) == 1
    # A second reply with nothing new from the customer ticks nothing again.
    await reply(ana, conv_id, "Yes, we do.")
    second = await inbox.customer_writes(phone.lstrip("+"), "great, thanks")
    await ana.post(f"/api/conversations/{conv_id}/read")
    assert second not in inbox.meta.marked_read  # opened, not answered: no ticks yet
    assert inbox.meta.marked_read.count(wamid) == 1
    await reply(ana, conv_id, "You're welcome!")
    assert await eventually(lambda: _async(second in inbox.meta.marked_read))
    assert inbox.meta.marked_read.count(wamid) == 1


async def test_never_gives_blue_ticks(stacks: dict[str, Stack]) -> None:
    inbox = stacks["never"]
    ana = await inbox.user()
    conv_id, _, wamid = await conversation(inbox, ana, "hello?")
    await ana.post(f"/api/conversations/{conv_id}/read")
    await reply(ana, conv_id, "Hello!")
    # The reply reaching the stand-in is the point after which a tick would have been sent.
    assert await eventually(lambda: _replied(inbox, "Hello!"))
    r = await ana.get(f"/api/conversations/{conv_id}")
    assert r.json()["unreadCount"] == 0
    assert wamid not in inbox.meta.marked_read


async def test_the_setting_is_checked_at_start() -> None:
    assert Settings.from_env({"READ_RECEIPTS": "on_reply"}, env_file=None).read_receipts == "on_reply"
    assert Settings.from_env({}, env_file=None).read_receipts == "on_open"
    with pytest.raises(SettingError, match="READ_RECEIPTS"):
        Settings.from_env({"READ_RECEIPTS": "sometimes"}, env_file=None)


async def _async(value: Any) -> Any:
    return value


async def _replied(inbox: Stack, text: str) -> bool:
    requests = await inbox.meta_requests()
    return any(((q.get("json") or {}).get("text") or {}).get("body") == text for q in requests)
