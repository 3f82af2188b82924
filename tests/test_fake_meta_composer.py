"""The Meta stand-in's answers to the composer's calls (issue 11): reaction messages, the
typing indicator and quoted replies, shaped and refused as Meta does. Other tests trust it."""

from __future__ import annotations

from typing import Any

import pytest

from server.emoji import is_reaction_emoji
from tests.test_fake_meta_unit import PHONE_ID, TO, _auth, _text, meta, meta_server, receiver

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["meta", "meta_server", "receiver"]  # fixtures shared with test_fake_meta_unit.py


def _reaction(message_id: str, emoji: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "reaction",
        "reaction": {"message_id": message_id, "emoji": emoji},
    }


async def send(client: Any, body: dict[str, Any]) -> Any:
    return await client.post(f"/v21.0/{PHONE_ID}/messages", json=body, headers=_auth())


async def _inbound(client: Any) -> str:
    r = await client.post("/simulate/inbound", json={"from": TO, "text": "hello"})
    assert r.status_code == 200
    return str(r.json()["wamid"])


async def test_reaction_gets_only_a_sent_status(meta: Any) -> None:
    fake, client, rec = meta
    wamid = await _inbound(client)
    r = await send(client, _reaction(wamid, "👍"))
    assert r.status_code == 200, r.text
    reaction = r.json()["messages"][0]["id"]
    assert [s["status"] for s in await rec.wait_statuses(reaction, 1)] == ["sent"]
    # Removing it is the same call with "".
    r = await send(client, _reaction(wamid, ""))
    assert r.status_code == 200


async def test_reaction_to_an_unknown_message_fails_by_webhook_with_131009(meta: Any) -> None:
    fake, client, rec = meta
    r = await send(client, _reaction("wamid.nobody", "👍"))
    assert r.status_code == 200  # accepted now, as Meta does
    reaction = r.json()["messages"][0]["id"]
    [failed] = await rec.wait_statuses(reaction, 1)
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131009


@pytest.mark.parametrize("emoji", ["ok", "👍👍", "👍 ", None])
async def test_reaction_needs_one_emoji(meta: Any, emoji: Any) -> None:
    fake, client, rec = meta
    wamid = await _inbound(client)
    r = await send(client, _reaction(wamid, emoji))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == 100 and "emoji" in r.json()["error"]["error_data"]["details"]


async def test_typing_indicator_on_a_customer_message(meta: Any) -> None:
    fake, client, rec = meta
    wamid = await _inbound(client)
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    r = await send(client, {**body, "typing_indicator": {"type": "text"}})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert fake.typing == [wamid] and fake.marked_read == [wamid]

    r = await send(client, {**body, "typing_indicator": {"type": "audio"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == 100
    unknown = {**body, "message_id": "wamid.nobody", "typing_indicator": {"type": "text"}}
    r = await send(client, unknown)
    assert r.status_code == 400 and r.json()["error"]["code"] == 131009
    assert fake.typing == [wamid]


async def test_a_quote_needs_a_message_id(meta: Any) -> None:
    fake, client, rec = meta
    wamid = await _inbound(client)
    r = await send(client, {**_text(), "context": {"message_id": wamid}})
    assert r.status_code == 200
    r = await send(client, {**_text(), "context": {"id": wamid}})
    assert r.status_code == 400 and "context" in r.json()["error"]["error_data"]["details"]


@pytest.mark.parametrize(
    ("text", "ok"),
    [("👍", True), ("❤️", True), ("👍🏽", True), ("🇹🇿", True), ("👨‍👩‍👧", True), ("", True), ("🏳️‍🌈", True)]
    + [("a", False), ("😀😀", False), ("🇹", False), ("👍 ", False), ("x" * 20, False)],
)
async def test_what_counts_as_one_emoji(text: str, ok: bool) -> None:
    assert is_reaction_emoji(text) is ok
