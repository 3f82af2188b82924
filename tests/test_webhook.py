"""Meta's webhook end to end: what arrives at POST /webhook (signed, over real HTTP) and what
a user then sees through the REST API. Every shape Meta sends, batches, duplicates, odd
ordering, user-id-only senders, account errors, invitation linking and concurrency."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from server.fake_meta import FakeMeta, new_wamid
from server.signature import sign
from server.whatsapp import explain
from tests.meta_payloads import METADATA, contact, dumps, envelope, message_value, msg, now_s, one_message
from tests.servers import (
    APP_SECRET,
    VERIFY_TOKEN,
    Agent,
    Stack,
    database_url,
    eventually,
    new_phone,
    stack,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


# -- helpers ---------------------------------------------------------------------------------


def iso_s(seconds: int) -> str:
    """How the API shows a Meta timestamp (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


async def post_raw(inbox: Stack, raw: bytes, signature: str | None = "sign") -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(APP_SECRET, raw)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await inbox.http.post(f"{inbox.base_url}/webhook", content=raw, headers=headers)


async def post(inbox: Stack, body: Any) -> httpx.Response:
    r = await post_raw(inbox, dumps(body))
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True}
    return r


async def admin_of(inbox: Stack) -> Agent:
    """One admin account per stack, reused by every test of this module."""
    agent = getattr(inbox, "_webhook_test_admin", None)
    if agent is None:
        agent = await inbox.user(admin=True)
        inbox._webhook_test_admin = agent  # type: ignore[attr-defined]
    return agent


async def conversation(agent: Agent, phone: str) -> dict[str, Any]:
    conv = await agent.conversation_with(phone)
    assert conv is not None, f"no conversation with {phone} visible to user {agent.id}"
    return conv


async def by_name(agent: Agent, name: str) -> list[dict[str, Any]]:
    return [c for c in await agent.conversations(search=name, limit=500) if c["contactName"] == name]


async def only_message(agent: Agent, phone: str) -> dict[str, Any]:
    conv = await conversation(agent, phone)
    items = await agent.messages(conv["id"])
    assert len(items) == 1, items
    return items[0]


async def webhook_event_with(inbox: Stack, needle: str) -> list[dict[str, Any]]:
    return await inbox.app.state.db.fetch_all(
        "SELECT id, processed, error FROM webhook_events WHERE body LIKE :n ORDER BY id", n=f"%{needle}%"
    )


@pytest.fixture
async def quiet_meta(meta_reset: Stack) -> Any:
    """The stand-in holds back its own status webhooks, so the test sends them by hand."""
    await meta_reset.meta_post("/simulate/config", {"statusDelay": 60})
    yield meta_reset
    await meta_reset.meta_post("/simulate/reset", {})


async def outbound(inbox: Stack, agent: Agent, phone: str, text: str = "Our reply") -> dict[str, Any]:
    r = await agent.send(phoneNumber=phone, content=text)
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["wamid"], sent
    return sent


async def status(inbox: Stack, wamid: str, phone: str, st: str, ts: int, errors: Any = None) -> None:
    body: dict[str, Any] = {"wamid": wamid, "status": st, "recipient": phone.lstrip("+"), "timestamp": ts}
    if errors is not None:
        body["errors"] = errors
    assert (await inbox.meta_post("/simulate/status", body))["webhookStatus"] == 200


async def message_by_id(agent: Agent, conversation_id: int, message_id: int) -> dict[str, Any]:
    [m] = [m for m in await agent.messages(conversation_id, limit=500) if m["id"] == message_id]
    return m


# -- 1. the verification handshake -------------------------------------------------------------


async def test_verify_handshake(inbox: Stack) -> None:
    url = f"{inbox.base_url}/webhook"
    challenge = str(uuid.uuid4().int)[:12]
    r = await inbox.http.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": challenge}
    )
    assert r.status_code == 200
    assert r.text == challenge
    assert r.headers["content-type"].startswith("text/plain")

    r = await inbox.http.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": challenge}
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_verify_token"
    assert "verify token" in r.json()["error"]
    assert challenge not in r.text

    r = await inbox.http.get(url)
    assert r.status_code == 400 and r.json()["code"] == "invalid_verification"
    r = await inbox.http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN})
    assert r.status_code == 400


# -- 2. signatures and bodies ---------------------------------------------------------------------


async def test_unsigned_or_wrongly_signed_is_refused_and_not_stored(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    body, wamid = one_message(phone, "Mallory", payload="forged " + uuid.uuid4().hex)
    raw = dumps(body)

    r = await post_raw(inbox, raw, signature=None)
    assert r.status_code == 401 and r.json()["code"] == "invalid_signature"
    for bad in (sign("another-secret", raw), sign(APP_SECRET, raw + b" "), "sha256=", sign(APP_SECRET, raw)[7:]):
        r = await post_raw(inbox, raw, signature=bad)
        assert r.status_code == 401, (bad, r.text)

    assert await admin.conversation_with(phone) is None
    assert await webhook_event_with(inbox, wamid) == []
    assert await inbox.app.state.db.fetch_one("SELECT id FROM messages WHERE wamid = :w", w=wamid) is None


async def test_signed_but_not_json_is_400(inbox: Stack) -> None:
    for raw in (b"not json at all", b'{"object": "whatsapp_business_account", ', b"\xff\xfe{}"):
        r = await post_raw(inbox, raw)
        assert r.status_code == 400, (raw, r.text)
        assert r.json() == {"error": "body is not JSON", "code": "invalid_json"}


async def test_unknown_shape_is_acknowledged_and_kept_unprocessed(inbox: Stack) -> None:
    nonce = uuid.uuid4().hex
    for body in ({"hello": 1, "nonce": nonce}, [nonce], {"object": "page", "entry": [], "nonce": nonce}):
        r = await post_raw(inbox, dumps(body))
        assert r.status_code == 200, r.text
    rows = await webhook_event_with(inbox, nonce)
    assert len(rows) == 3
    assert all(row["processed"] == 0 and row["error"] for row in rows), rows


async def test_signature_is_over_the_exact_escaped_bytes(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    body, wamid = one_message(phone, "Zoë", payload="Café ☕ 😀 ok")
    raw = dumps(body)
    assert b"Zo\\u00eb" in raw and "ë".encode() not in raw
    r = await post_raw(inbox, raw)
    assert r.status_code == 200, r.text
    conv = await conversation(admin, phone)
    assert conv["contactName"] == "Zoë"
    [m] = await admin.messages(conv["id"])
    assert m["wamid"] == wamid and m["content"] == "Café ☕ 😀 ok"
    [event] = await webhook_event_with(inbox, wamid)
    assert event["processed"] == 1

    # The same JSON serialised another way (UTF-8, spaces) no longer matches Meta's signature.
    phone2 = new_phone()
    body2, wamid2 = one_message(phone2, "Zoë", payload="Café again")
    for other in (json.dumps(body2, ensure_ascii=False).encode(), json.dumps(body2).encode()):
        assert other != dumps(body2)
        r = await post_raw(inbox, other, signature=sign(APP_SECRET, dumps(body2)))
        assert r.status_code == 401
    assert await admin.conversation_with(phone2) is None


async def test_half_emoji_or_nul_does_not_lose_the_batch(inbox: Stack) -> None:
    """JSON can carry a lone surrogate (an emoji cut in half) or a NUL as \\u escapes; neither
    fits a database text column, and one such character must not drop the whole body."""
    admin = await admin_of(inbox)
    phone = new_phone()
    odd = [
        msg(phone, "text", "half \ud83d emoji"),
        msg(phone, "text", "nul\x00byte"),
        msg(phone, "text", "whole 😀 emoji"),
        msg(phone, "text", "normal"),
    ]
    raw = dumps(envelope(message_value(odd, [contact(phone, "Ren\ude00ee")])))
    assert b"\\ud83d emoji" in raw and b"\\u0000" in raw
    r = await post_raw(inbox, raw)
    assert r.status_code == 200, r.text
    conv = await conversation(admin, phone)
    assert conv["contactName"] == "Ren\ufffdee" and conv["unreadCount"] == 4
    assert [m["content"] for m in await admin.messages(conv["id"])] == [
        "half \ufffd emoji",
        "nulbyte",
        "whole 😀 emoji",
        "normal",
    ]
    assert [e["processed"] for e in await webhook_event_with(inbox, odd[0]["id"])] == [1]


async def test_without_app_secret_the_webhook_says_which_setting(tmp_path: Any) -> None:
    async with database_url("sqlite", tmp_path) as url, stack(url, whatsapp_app_secret="") as s:
        body, _ = one_message(new_phone(), "Nobody")
        raw = dumps(body)
        r = await s.http.post(
            f"{s.base_url}/webhook", content=raw, headers={"X-Hub-Signature-256": sign(APP_SECRET, raw)}
        )
        assert r.status_code == 503 and r.json()["code"] == "not_configured"
        assert "WHATSAPP_APP_SECRET" in r.json()["error"]
        count = await s.app.state.db.fetch_val("SELECT count(*) FROM webhook_events")
        assert count == 0


# -- 3. every message type -----------------------------------------------------------------------


async def test_text_and_profile_name(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "first", name="Old Name")
    conv = await conversation(admin, phone)
    assert conv["contactName"] == "Old Name"
    assert conv["ownerId"] is None and conv["waUserId"] is None
    assert conv["lastMessage"]["content"] == "first" and conv["lastMessage"]["type"] == "text"

    await inbox.customer_writes(phone.lstrip("+"), "second", name="New Name")
    await inbox.customer_writes(phone.lstrip("+"), "third", name="")  # no profile name: keep the last
    conv = await conversation(admin, phone)
    assert conv["contactName"] == "New Name"
    assert conv["unreadCount"] == 3
    items = await admin.messages(conv["id"])
    assert [(m["type"], m["content"], m["direction"], m["status"]) for m in items] == [
        ("text", "first", "inbound", "received"),
        ("text", "second", "inbound", "received"),
        ("text", "third", "inbound", "received"),
    ]
    assert all(m["media"] is None and m["data"] is None and m["error"] is None for m in items)


@pytest.mark.parametrize("kind", ["image", "video", "audio", "document", "sticker"])
async def test_media_messages(inbox: Stack, kind: str) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    media_id = str(uuid.uuid4().int)[:15]
    payload = {
        "id": media_id,
        "mime_type": f"{kind}/x-test",
        "sha256": "c2hhMjU2" + media_id,
        "caption": f"A {kind} caption",
        "filename": f"{kind}.bin",
    }
    extra = {}
    if kind == "audio":
        payload["voice"] = True
        extra = {"voice": True}
    if kind == "sticker":
        payload["animated"] = False
        extra = {"animated": False}
    body, wamid = one_message(phone, "Media Sender", kind, payload)
    await post(inbox, body)
    m = await only_message(admin, phone)
    assert m["wamid"] == wamid and m["type"] == kind
    assert m["content"] == f"A {kind} caption"
    # Downloading the file is a step of its own (tests/test_media.py): here it is not known to
    # the stand-in, so it stays pending (and is retried) or ends unavailable.
    assert m["media"].pop("status") in ("pending", "unavailable")
    assert m["media"] == {
        "id": media_id,
        "mimeType": f"{kind}/x-test",
        "sha256": "c2hhMjU2" + media_id,
        "caption": f"A {kind} caption",
        "filename": f"{kind}.bin",
        **extra,
    }
    conv = await conversation(admin, phone)
    assert conv["lastMessage"] == {
        "id": m["id"],
        "type": kind,
        "content": f"A {kind} caption",
        "direction": "inbound",
        "status": "received",
    }


async def test_location_and_contacts(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    loc = {"latitude": -6.7924, "longitude": 39.2083, "name": "Kariakoo Market", "address": "Dar es Salaam"}
    card = {
        "name": {"formatted_name": "Juma Ali", "first_name": "Juma", "last_name": "Ali"},
        "phones": [{"phone": "+255 712 000 111", "type": "CELL", "wa_id": "255712000111"}],
    }
    card2 = {"name": {"formatted_name": "Neema"}, "phones": []}
    body = envelope(
        message_value([msg(phone, "location", loc), msg(phone, "contacts", [card, card2])], [contact(phone, "Places")])
    )
    await post(inbox, body)
    conv = await conversation(admin, phone)
    location, contacts = await admin.messages(conv["id"])
    assert location["type"] == "location" and location["content"] == "Kariakoo Market"
    assert location["data"] == {**loc, "url": None}
    assert contacts["type"] == "contacts" and contacts["content"] == "Juma Ali, Neema"
    assert contacts["data"] == [card, card2]


async def test_interactive_and_button_replies(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    messages = [
        msg(phone, "interactive", {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes please"}}),
        msg(
            phone,
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "row-7", "title": "Large box", "description": "40 x 40 cm"}},
        ),
        msg(
            phone,
            "button",
            {"payload": "STOP_PROMOS", "text": "Stop promotions"},
            context={"from": "15550001111", "id": new_wamid()},
        ),
    ]
    await post(inbox, envelope(message_value(messages, [contact(phone, "Clicker")])))
    conv = await conversation(admin, phone)
    button, listed, quick = await admin.messages(conv["id"])
    assert (button["type"], button["content"]) == ("interactive", "Yes please")
    assert button["data"] == {"kind": "button_reply", "id": "yes-1", "title": "Yes please"}
    assert (listed["type"], listed["content"]) == ("interactive", "Large box")
    assert listed["data"] == {"kind": "list_reply", "id": "row-7", "title": "Large box", "description": "40 x 40 cm"}
    assert (quick["type"], quick["content"]) == ("button", "Stop promotions")
    assert quick["data"]["payload"] == "STOP_PROMOS"
    assert conv["unreadCount"] == 3


async def test_reaction_is_not_a_message(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    phone = new_phone()
    wa_id = phone.lstrip("+")
    target = await inbox.customer_writes(wa_id, "Is it ready?", name="Reactor")
    ts = now_s()

    async def react(emoji: str | None, at: int) -> None:
        reaction: dict[str, Any] = {"message_id": target}
        if emoji is not None:
            reaction["emoji"] = emoji
        await inbox.customer_writes(wa_id, name="Reactor", type="reaction", reaction=reaction, timestamp=at)

    await react("👍", ts)
    conv = await conversation(admin, phone)
    assert conv["unreadCount"] == 1
    assert conv["lastMessage"]["content"] == "Is it ready?"
    [m] = await admin.messages(conv["id"])
    assert m["wamid"] == target
    assert m["reactions"] == [{"emoji": "👍", "direction": "inbound"}]

    await react("❤️", ts + 1)  # one reaction per person: replaced
    [m] = await admin.messages(conv["id"])
    assert m["reactions"] == [{"emoji": "❤️", "direction": "inbound"}]

    await react("😮", ts - 100)  # an older re-delivery never wins
    [m] = await admin.messages(conv["id"])
    assert m["reactions"] == [{"emoji": "❤️", "direction": "inbound"}]

    await react("", ts + 2)  # removed
    [m] = await admin.messages(conv["id"])
    assert m["reactions"] == []
    await react("🙏", ts + 3)
    await react(None, ts + 4)  # removal with the emoji left out
    [m] = await admin.messages(conv["id"])
    assert m["reactions"] == []
    conv = await conversation(admin, phone)
    assert conv["unreadCount"] == 1
    count = await inbox.app.state.db.fetch_val("SELECT count(*) FROM messages WHERE conversation_id = :c", c=conv["id"])
    assert count == 1


async def test_reply_context(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    phone = new_phone()
    wa_id = phone.lstrip("+")
    quoted = await inbox.customer_writes(wa_id, "The blue one", name="Quoter")
    await inbox.customer_writes(wa_id, "Actually, this one", name="Quoter", context={"from": wa_id, "id": quoted})
    unknown = new_wamid()
    await inbox.customer_writes(wa_id, "and that one", name="Quoter", context={"from": wa_id, "id": unknown})
    conv = await conversation(admin, phone)
    first, reply, dangling = await admin.messages(conv["id"])
    assert first["replyTo"] is None
    assert reply["replyTo"] == {
        "id": first["id"],
        "wamid": quoted,
        "type": "text",
        "content": "The blue one",
        "direction": "inbound",
    }
    assert dangling["replyTo"]["wamid"] == unknown and dangling["replyTo"]["id"] is None


async def test_unsupported_and_unknown_types_keep_raw_json(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    unsupported = msg(
        phone,
        "unsupported",
        {"type": "edit"},
        errors=[
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    )
    future = msg(phone, "hologram", {"frames": [1, 2, 3], "label": "hi"})
    odd_error = msg(
        phone,
        "text",
        "garbled",
        errors=[{"code": 131099, "title": "Odd thing", "error_data": {"details": "Something odd."}}],
    )
    await post(inbox, envelope(message_value([unsupported, future, odd_error], [contact(phone, "Futurist")])))
    conv = await conversation(admin, phone)
    a, b, c = await admin.messages(conv["id"])
    assert a["type"] == "unsupported" and a["content"] == ""
    assert a["data"] == unsupported
    assert a["error"] == {
        "code": 131051,
        "title": "Message type unknown",
        "detail": "Message type is currently not supported.",
        "message": explain(131051),
    }
    assert a["error"]["message"] == "This message type is not supported by WhatsApp."
    assert b["type"] == "hologram" and b["data"] == future and b["error"] is None
    assert c["content"] == "garbled"
    assert c["error"]["code"] == 131099 and c["error"]["title"] == "Odd thing"
    assert c["error"]["detail"] == "Something odd." and "Odd thing" in c["error"]["message"]
    assert conv["unreadCount"] == 3


# -- 4. batches ------------------------------------------------------------------------------------


async def test_one_post_with_entries_changes_messages_and_statuses(quiet_meta: Stack) -> None:
    inbox = quiet_meta
    admin = await admin_of(inbox)
    a, b, c, d = (new_phone() for _ in range(4))
    sent = await outbound(inbox, admin, d, "Your parcel left")
    assert sent["status"] == "pending"
    ts = now_s()
    react_to = new_wamid()
    body = envelope(
        entries=[
            [
                message_value([msg(a, "text", "a1", ts=ts), msg(a, "text", "a2", ts=ts + 1)], [contact(a, "Alpha")]),
                {
                    "messaging_product": "whatsapp",
                    "metadata": METADATA,
                    "statuses": [
                        {"id": sent["wamid"], "status": "sent", "timestamp": str(ts), "recipient_id": d.lstrip("+")},
                        {
                            "id": sent["wamid"],
                            "status": "delivered",
                            "timestamp": str(ts + 1),
                            "recipient_id": d.lstrip("+"),
                        },
                    ],
                },
                message_value([msg(b, "text", "b1", ts=ts)], [contact(b, "Bravo")]),
            ],
            [
                message_value(
                    [
                        msg(c, "text", "c1", ts=ts, wamid=react_to),
                        msg(c, "reaction", {"message_id": react_to, "emoji": "🎉"}, ts=ts + 1),
                        msg(b, "text", "b2", ts=ts + 2),
                    ],
                    [contact(c, "Charlie"), contact(b, "Bravo B.")],
                ),
            ],
        ]
    )
    await post(inbox, body)
    ca, cb, cc = [await conversation(admin, p) for p in (a, b, c)]
    assert (ca["contactName"], ca["unreadCount"], ca["lastMessage"]["content"]) == ("Alpha", 2, "a2")
    assert (cb["contactName"], cb["unreadCount"], cb["lastMessage"]["content"]) == ("Bravo B.", 2, "b2")
    assert (cc["contactName"], cc["unreadCount"], cc["lastMessage"]["content"]) == ("Charlie", 1, "c1")
    assert [m["content"] for m in await admin.messages(ca["id"])] == ["a1", "a2"]
    assert [m["content"] for m in await admin.messages(cb["id"])] == ["b1", "b2"]
    [m] = await admin.messages(cc["id"])
    assert m["reactions"] == [{"emoji": "🎉", "direction": "inbound"}]
    cd = await conversation(admin, d)
    out = await message_by_id(admin, cd["id"], sent["id"])
    assert out["status"] == "delivered"
    assert (out["sentAt"], out["deliveredAt"], out["readAt"]) == (iso_s(ts), iso_s(ts + 1), None)
    assert cd["unreadCount"] == 0 and cd["lastMessage"]["status"] == "delivered"
    event = await webhook_event_with(inbox, react_to)
    assert [e["processed"] for e in event] == [1]


async def test_three_megabyte_batch_is_processed_completely(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phones = [new_phone() for _ in range(3)]
    per_phone = 200
    ts = now_s() - 1000
    filler = "x" * 5000
    messages = [msg(p, "text", f"{i:04d} {filler}", ts=ts + i) for i in range(per_phone) for p in phones]
    body = envelope(message_value(messages, [contact(p, f"Bulk {k}") for k, p in enumerate(phones)]))
    raw = dumps(body)
    assert len(raw) > 3_000_000
    r = await post_raw(inbox, raw)
    assert r.status_code == 200, r.text
    # Acknowledged once committed raw: applying 3 MB may take longer than WEBHOOK_APPLY_WAIT.
    ids = ",".join(f"'{m['id']}'" for m in messages)

    async def all_applied() -> bool:
        count = await inbox.app.state.db.fetch_val("SELECT count(*) FROM messages WHERE wamid IN (" + ids + ")")
        return count == len(messages)

    await eventually(all_applied, timeout=30)
    for k, p in enumerate(phones):
        conv = await conversation(admin, p)
        assert conv["contactName"] == f"Bulk {k}"
        assert conv["unreadCount"] == per_phone
        assert conv["lastMessage"]["content"] == f"{per_phone - 1:04d} {filler}"
        items = await admin.messages(conv["id"], limit=500)
        assert [m["content"][:4] for m in items] == [f"{i:04d}" for i in range(per_phone)]
    stored = await inbox.app.state.db.fetch_val(
        "SELECT count(*) FROM messages WHERE wamid IN (" + ",".join(f"'{m['id']}'" for m in messages) + ")"
    )
    assert stored == len(messages)


# -- 5. duplicates and ordering ---------------------------------------------------------------------


async def test_same_webhook_twice_is_one_message(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    body, wamid = one_message(phone, "Twice", payload="only once please")
    await post(inbox, body)
    await post(inbox, body)
    # Re-delivered inside another batch too.
    body2 = envelope(
        message_value(
            [body["entry"][0]["changes"][0]["value"]["messages"][0], msg(phone, "text", "new one")],
            [contact(phone, "Twice")],
        )
    )
    await post(inbox, body2)
    conv = await conversation(admin, phone)
    assert conv["unreadCount"] == 2
    items = await admin.messages(conv["id"])
    assert [(m["wamid"], m["content"]) for m in items][0] == (wamid, "only once please")
    assert [m["content"] for m in items] == ["only once please", "new one"]
    assert len(await webhook_event_with(inbox, wamid)) == 3  # every delivery is still kept raw

    # Meta retrying while the first delivery is still in flight.
    phone2 = new_phone()
    raw2 = dumps(one_message(phone2, "Racer", payload="retried")[0])
    responses = await asyncio.gather(*(post_raw(inbox, raw2) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    conv2 = await conversation(admin, phone2)
    assert conv2["unreadCount"] == 1
    assert [m["content"] for m in await admin.messages(conv2["id"])] == ["retried"]

    # A re-delivery after the agent read the conversation does not make it unread again.
    r = await admin.post(f"/api/conversations/{conv2['id']}/read")
    assert r.status_code == 200 and r.json()["unreadCount"] == 0
    await post_raw(inbox, raw2)
    assert (await conversation(admin, phone2))["unreadCount"] == 0


async def test_out_of_order_messages(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phone = new_phone()
    ts = now_s()
    newer, _ = one_message(phone, "Late", payload="newer", ts=ts)
    older, _ = one_message(phone, "Late", payload="older", ts=ts - 120)
    await post(inbox, newer)
    await post(inbox, older)
    conv = await conversation(admin, phone)
    assert conv["unreadCount"] == 2
    assert conv["lastMessage"]["content"] == "newer"
    assert conv["lastMessageAt"] == iso_s(ts)
    items = await admin.messages(conv["id"])
    assert sorted((m["content"], m["createdAt"]) for m in items) == [("newer", iso_s(ts)), ("older", iso_s(ts - 120))]


# -- 6. statuses ---------------------------------------------------------------------------------


async def test_statuses_out_of_order_and_never_backwards(quiet_meta: Stack) -> None:
    inbox = quiet_meta
    admin = await admin_of(inbox)
    phone = new_phone()
    sent = await outbound(inbox, admin, phone)
    conv = await conversation(admin, phone)
    ts = now_s()
    await status(inbox, sent["wamid"], phone, "read", ts + 2)
    m = await message_by_id(admin, conv["id"], sent["id"])
    assert m["status"] == "read" and m["readAt"] == iso_s(ts + 2) and m["deliveredAt"] is None
    await status(inbox, sent["wamid"], phone, "delivered", ts + 1)
    await status(inbox, sent["wamid"], phone, "sent", ts)
    m = await message_by_id(admin, conv["id"], sent["id"])
    assert m["status"] == "read"
    assert (m["sentAt"], m["deliveredAt"], m["readAt"]) == (iso_s(ts), iso_s(ts + 1), iso_s(ts + 2))

    await status(inbox, sent["wamid"], phone, "delivered", ts + 10)  # a late re-delivery
    await status(inbox, sent["wamid"], phone, "failed", ts + 11, FakeMeta.status_errors(131026))
    m = await message_by_id(admin, conv["id"], sent["id"])
    assert m["status"] == "read" and m["error"] is None
    assert m["deliveredAt"] == iso_s(ts + 1)
    conv = await conversation(admin, phone)
    assert conv["lastMessage"]["status"] == "read"


async def test_failed_status_keeps_meta_error(quiet_meta: Stack) -> None:
    inbox = quiet_meta
    admin = await admin_of(inbox)
    phone = new_phone()
    sent = await outbound(inbox, admin, phone, "Hello after a long time")
    await status(inbox, sent["wamid"], phone, "sent", now_s())
    await status(inbox, sent["wamid"], phone, "failed", now_s(), FakeMeta.status_errors(131047))
    conv = await conversation(admin, phone)
    m = await message_by_id(admin, conv["id"], sent["id"])
    assert m["status"] == "failed"
    assert m["error"] == {
        "code": 131047,
        "title": "Re-engagement message",
        "detail": "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
        "message": explain(131047),
    }
    assert "24 hours" in m["error"]["message"]
    assert conv["lastMessage"]["status"] == "failed"
    await status(inbox, sent["wamid"], phone, "delivered", now_s())  # failed is final
    m = await message_by_id(admin, conv["id"], sent["id"])
    assert m["status"] == "failed"


@pytest.mark.parametrize(
    "config,final",
    [
        ({"statusesBeforeResponse": True, "autoRead": False, "skipDelivered": True}, "sent"),
        ({"statusesBeforeResponse": True}, "read"),
    ],
)
async def test_status_before_send_returns_is_applied(meta_reset: Stack, config: dict, final: str) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    await inbox.meta_post("/simulate/config", config)
    try:
        phone = new_phone()
        r = await admin.send(phoneNumber=phone, content="quick!")
        assert r.status_code == 201, r.text
        sent = r.json()
        assert sent["status"] != "pending" and sent["sentAt"] is not None, sent
        conv = await conversation(admin, phone)

        async def settled() -> dict[str, Any] | None:
            m = await message_by_id(admin, conv["id"], sent["id"])
            return m if m["status"] == final else None

        m = await eventually(settled)
        assert m, f"never reached {final}"
        assert m["wamid"] == sent["wamid"] and m["sentAt"] is not None
        if final == "read":
            assert m["deliveredAt"] and m["readAt"]
        else:
            await asyncio.sleep(0.1)
            m = await message_by_id(admin, conv["id"], sent["id"])
            assert m["status"] == "sent" and m["deliveredAt"] is None
        parked = await inbox.app.state.db.fetch_val(
            "SELECT count(*) FROM pending_statuses WHERE wamid = :w", w=sent["wamid"]
        )
        assert parked == 0
    finally:
        await inbox.meta_post("/simulate/reset", {})


# -- 7. senders known only by a user id (BSUID) --------------------------------------------------


async def test_user_id_only_senders(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await admin_of(inbox)
    agent = await inbox.user()
    tag = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    u1, u2 = f"US.{uuid.uuid4().int % 10**19}", f"US.{uuid.uuid4().int % 10**19}"
    n1, n2 = f"Anon {tag} one", f"Anon {tag} two"
    await inbox.customer_writes("", "who am I", name=n1, userId=u1)
    await inbox.customer_writes("", "someone else", name=n2, userId=u2)
    # Meta's explicit empty `from`, with the id only in contacts[].
    m = msg(None, "text", "me again", from_user_id=u1)
    await post(inbox, envelope(message_value([m], [contact(None, n1, user_id=u1)])))

    [c1] = await by_name(admin, n1)
    [c2] = await by_name(admin, n2)
    assert c1["id"] != c2["id"]
    assert (c1["phoneNumber"], c1["waUserId"], c1["ownerId"], c1["unreadCount"]) == (None, u1, None, 2)
    assert (c2["phoneNumber"], c2["waUserId"], c2["ownerId"], c2["unreadCount"]) == (None, u2, None, 1)
    assert [x["content"] for x in await admin.messages(c1["id"])] == ["who am I", "me again"]
    assert [x["content"] for x in await admin.messages(c2["id"])] == ["someone else"]
    assert await by_name(agent, n1) == []
    r = await agent.get(f"/api/conversations/{c1['id']}/messages")
    assert r.status_code == 404

    # Later the same user writes with a number too: the number joins the same conversation.
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "now with a number", name=n1, userId=u1)
    c1b = await conversation(admin, phone)
    assert c1b["id"] == c1["id"] and c1b["waUserId"] == u1 and c1b["unreadCount"] == 3
    [c2b] = await by_name(admin, n2)
    assert c2b["phoneNumber"] is None and c2b["unreadCount"] == 1


# -- 8. account errors ------------------------------------------------------------------------


async def test_value_errors_are_kept_for_admins(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    agent = await inbox.user()
    detail = f"Certificate mismatch {uuid.uuid4().hex}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "errors": [
            {
                "code": 131045,
                "title": "Incorrect certificate",
                "message": "Incorrect certificate",
                "error_data": {"details": detail},
            },
        ],
    }
    await post(inbox, envelope(value))
    row = await inbox.app.state.db.fetch_one("SELECT code, title, raw FROM meta_errors WHERE detail = :d", d=detail)
    assert row is not None and row["code"] == 131045 and row["title"] == "Incorrect certificate"
    assert json.loads(row["raw"])["error_data"]["details"] == detail
    r = await admin.get("/api/errors")
    assert r.status_code == 200
    [listed] = [e for e in r.json() if e["detail"] == detail]
    assert listed["code"] == 131045 and listed["title"] == "Incorrect certificate" and listed["createdAt"]
    r = await agent.get("/api/errors")
    assert r.status_code == 403
    [event] = await webhook_event_with(inbox, detail)
    assert event["processed"] == 1


# -- 9. linking to invitations ---------------------------------------------------------------------


def spaced(phone: str) -> str:
    """+255712345678 -> '+255 712 345 678'."""
    return f"{phone[:4]} {phone[4:7]} {phone[7:10]} {phone[10:]}"


@pytest.mark.parametrize("typed", [spaced, lambda p: "0" + p[4:]], ids=["international", "national"])
async def test_message_from_invited_number_belongs_to_owner(meta_reset: Stack, typed: Any) -> None:
    inbox = meta_reset
    owner = await inbox.user()
    other = await inbox.user()
    phone = new_phone()
    r = await owner.post("/api/invitations", {"name": "Invited", "phoneNumber": typed(phone)})
    assert r.status_code == 201, r.text
    assert r.json()["phoneNumber"] == phone
    await inbox.customer_writes(phone.lstrip("+"), "hi from the invited", name="Invited Customer")
    conv = await conversation(owner, phone)
    assert conv["ownerId"] == owner.id and conv["unreadCount"] == 1
    assert [m["content"] for m in await owner.messages(conv["id"])] == ["hi from the invited"]
    assert await other.conversation_with(phone) is None


async def test_brazilian_number_without_ninth_digit_matches(meta_reset: Stack) -> None:
    inbox = meta_reset
    owner = await inbox.user()
    subscriber = str(8 + uuid.uuid4().int % 2) + str(uuid.uuid4().int % 10**7).zfill(7)
    typed = f"+55 11 9{subscriber[:4]}-{subscriber[4:]}"
    r = await owner.post("/api/invitations", {"name": "Paulista", "phoneNumber": typed})
    assert r.status_code == 201, r.text
    assert r.json()["phoneNumber"] == f"+55119{subscriber}"
    wa_id = f"5511{subscriber}"
    await inbox.customer_writes(wa_id, "Olá", name="Paulo")
    conv = await conversation(owner, f"+{wa_id}")
    assert conv["ownerId"] == owner.id and conv["contactName"] == "Paulista" and conv["profileName"] == "Paulo"
    assert [m["content"] for m in await owner.messages(conv["id"])] == ["Olá"]


async def test_unmatched_number_is_unassigned(meta_reset: Stack) -> None:
    inbox = meta_reset
    owner = await inbox.user()
    admin = await admin_of(inbox)
    invited = new_phone()
    r = await owner.post("/api/invitations", {"name": "Someone", "phoneNumber": invited})
    assert r.status_code == 201, r.text
    stranger = new_phone()
    await inbox.customer_writes(stranger.lstrip("+"), "who is this?", name="Stranger")
    assert await owner.conversation_with(stranger) is None
    conv = await conversation(admin, stranger)
    assert conv["ownerId"] is None and conv["unreadCount"] == 1
    r = await owner.get(f"/api/conversations/{conv['id']}/messages")
    assert r.status_code == 404


# -- 10. concurrency --------------------------------------------------------------------------


async def test_hundred_concurrent_webhooks(inbox: Stack) -> None:
    admin = await admin_of(inbox)
    phones = [new_phone() for _ in range(10)]
    bodies = []
    for i in range(100):
        phone = phones[i % 10]
        bodies.append(one_message(phone, f"Busy {i % 10}", payload=f"message {i}"))
    raws = [dumps(b) for b, _ in bodies]
    responses = await asyncio.gather(*(post_raw(inbox, raw) for raw in raws))
    assert [r.status_code for r in responses] == [200] * 100, [r.text for r in responses if r.status_code != 200]
    for k, phone in enumerate(phones):
        conv = await conversation(admin, phone)
        assert conv["unreadCount"] == 10, conv
        items = await admin.messages(conv["id"])
        assert sorted(m["wamid"] for m in items) == sorted(w for i, (_, w) in enumerate(bodies) if i % 10 == k)
        assert sorted(m["content"] for m in items) == sorted(f"message {i}" for i in range(k, 100, 10))
