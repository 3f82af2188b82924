"""Several business numbers (issue 16, point 3): a conversation is one customer on one of our
WhatsApp numbers, replies leave from the number the customer wrote to, and a webhook for a
number the server does not serve is kept apart, never merged."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from server import ingest
from server.db import Database
from tests.conftest import DATABASES
from tests.servers import PHONE_NUMBER_ID, Agent, Stack, account, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECOND = "1000000002"  # the stand-in's second number
UNKNOWN = "1000000099"


async def with_second_number(inbox: Stack) -> Agent:
    admin = await account(inbox, admin=True)
    r = await admin.post("/api/numbers", {"id": SECOND, "displayName": "Shop branch"})
    assert r.status_code in (201, 409), r.text
    return admin


async def sends(inbox: Stack) -> list[tuple[str, str]]:
    """(path, to) of every text send the stand-in received."""
    requests = await inbox.meta_requests()
    return [(q["path"], q["json"]["to"]) for q in requests if q["json"] and q["json"].get("type") == "text"]


async def test_numbers_are_listed_and_admins_add_them(inbox: Stack) -> None:
    admin, agent = await with_second_number(inbox), await account(inbox)
    r = await agent.get("/api/numbers")
    assert r.status_code == 200
    listed = {n["id"]: n for n in r.json()}
    assert listed[PHONE_NUMBER_ID]["configured"] and listed[PHONE_NUMBER_ID]["default"]
    assert listed[SECOND]["displayName"] == "Shop branch" and not listed[SECOND]["configured"]

    r = await agent.post("/api/numbers", {"id": "1000000077", "displayName": "Mine"})
    assert r.status_code == 403 and r.json()["error"]
    for body, words in (
        ({"id": "abc", "displayName": "X"}, "digits"),
        ({"id": "1000000078"}, "displayName"),
        ({"id": "1000000078", "displayName": "x" * 101}, "100"),
    ):
        r = await admin.post("/api/numbers", body)
        assert r.status_code == 422 and words in r.json()["error"], (body, r.text)
    r = await admin.post("/api/numbers", {"id": SECOND, "displayName": "Again"})
    assert r.status_code == 409 and SECOND in r.json()["error"]


async def test_one_customer_on_two_numbers_is_two_conversations_answered_from_each(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await with_second_number(inbox)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "to the main number")
    await inbox.customer_writes(phone.lstrip("+"), "to the branch", to=SECOND)
    convs = [c for c in await admin.conversations(search=phone.lstrip("+")) if c["phoneNumber"] == phone]
    by_number = {c["businessNumberId"]: c for c in convs}
    assert set(by_number) == {PHONE_NUMBER_ID, SECOND} and len(convs) == 2
    assert by_number[SECOND]["lastMessage"]["content"] == "to the branch"
    assert by_number[PHONE_NUMBER_ID]["lastMessage"]["content"] == "to the main number"

    only = await admin.conversations(number=SECOND, search=phone.lstrip("+"))
    assert [c["id"] for c in only] == [by_number[SECOND]["id"]]

    r = await admin.send(conversationId=by_number[SECOND]["id"], content="from the branch")
    assert r.status_code == 201, r.text
    r2 = await admin.send(conversationId=by_number[PHONE_NUMBER_ID]["id"], content="from the main number")
    assert r2.status_code == 201, r2.text
    assert await sends(inbox) == [
        (f"/v21.0/{SECOND}/messages", phone.lstrip("+")),
        (f"/v21.0/{PHONE_NUMBER_ID}/messages", phone.lstrip("+")),
    ]

    async def delivered() -> bool:
        msgs = await admin.messages(by_number[SECOND]["id"])
        return any(m["id"] == r.json()["id"] and m["status"] in ("delivered", "read") for m in msgs)

    assert await eventually(delivered)  # the branch's status webhooks find the reply

    # By number: the conversation the customer last wrote in, or the number asked for.
    await inbox.customer_writes(phone.lstrip("+"), "branch again", to=SECOND, timestamp=int(time.time()) + 5)
    r = await admin.send(phoneNumber=phone, content="by number")
    assert r.status_code == 201 and r.json()["conversationId"] == by_number[SECOND]["id"]
    r = await admin.send(phoneNumber=phone, content="main, please", businessNumberId=PHONE_NUMBER_ID)
    assert r.status_code == 201 and r.json()["conversationId"] == by_number[PHONE_NUMBER_ID]["id"]
    r = await admin.send(phoneNumber=phone, content="?", businessNumberId=UNKNOWN)
    assert r.status_code == 404 and UNKNOWN in r.json()["error"]


async def test_a_webhook_for_an_unknown_number_is_kept_apart(inbox: Stack) -> None:
    admin = await account(inbox, admin=True)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "first, to the main number")
    lost = f"{UNKNOWN}{uuid.uuid4().int % 1000}"
    await inbox.customer_writes(phone.lstrip("+"), "to a number you do not serve", to=lost)

    async def failure() -> dict[str, Any] | None:
        r = await admin.get("/api/webhooks/failures")
        return next((f for f in r.json() if lost in f["reason"]), None)

    shown = await eventually(failure)
    assert shown is not None and "POST /api/numbers" in shown["reason"]
    convs = [c for c in await admin.conversations(search=phone.lstrip("+")) if c["phoneNumber"] == phone]
    assert len(convs) == 1 and convs[0]["lastMessage"]["content"] == "first, to the main number"
    assert [m["content"] for m in await admin.messages(convs[0]["id"])] == ["first, to the main number"]

    # Once an admin adds the number, a replay files the message under it.
    r = await admin.post("/api/numbers", {"id": lost, "displayName": "Found"})
    assert r.status_code == 201
    await ingest.replay(inbox.app.state.db, inbox.app.state.store, shown["webhookEventId"])
    convs = await admin.conversations(number=lost)
    assert [c["lastMessage"]["content"] for c in convs] == ["to a number you do not serve"]


OLD_CONVERSATIONS = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_number TEXT,
    phone_key TEXT UNIQUE,
    wa_user_id TEXT UNIQUE,
    contact_name TEXT,
    owner_id BIGINT REFERENCES users(id),
    last_message_id BIGINT,
    last_message_at BIGINT,
    last_inbound_at BIGINT,
    unread_count INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    wamid TEXT UNIQUE, client_id TEXT UNIQUE, direction TEXT NOT NULL, type TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '', media TEXT, data TEXT, reply_to_wamid TEXT, status TEXT NOT NULL,
    error TEXT, sender_user_id BIGINT, created_at BIGINT NOT NULL, sent_at BIGINT, delivered_at BIGINT,
    read_at BIGINT
);
"""


@pytest.mark.parametrize("kind", DATABASES)
async def test_a_database_from_before_several_numbers_is_upgraded(kind: str, tmp_path: Any) -> None:
    """A conversation of the single-number days keeps its messages, joins the first number,
    keeps its name as the profile name, and the same customer can now write to a second number."""
    phone = new_phone()
    async with database_url(kind, tmp_path) as url:
        old = Database(url, schema=OLD_CONVERSATIONS)
        await old.connect()

        async def seed(tx: Any) -> None:
            conv_id = await tx.fetch_val(
                "INSERT INTO conversations (phone_number, phone_key, contact_name, last_message_at, created_at)"
                " VALUES (:p, :p, 'Old Name', 1, 1) RETURNING id",
                p=phone,
            )
            await tx.execute(
                "INSERT INTO messages (conversation_id, wamid, direction, type, content, status, created_at)"
                " VALUES (:c, :w, 'inbound', 'text', 'from the old days', 'received', 1)",
                c=conv_id,
                w=f"wamid.old{uuid.uuid4().hex}",
            )

        await old.write(seed)
        await old.disconnect()

        async with stack(url) as inbox:
            admin = await with_second_number(inbox)
            [conv] = await admin.conversations(search=phone.lstrip("+"))
            assert conv["businessNumberId"] == PHONE_NUMBER_ID
            assert conv["contactName"] == "Old Name" and conv["profileName"] == "Old Name"
            assert [m["content"] for m in await admin.messages(conv["id"])] == ["from the old days"]
            # The search index was rebuilt with the table: the old name is found.
            assert [c["id"] for c in await admin.conversations(search="old name")] == [conv["id"]]
            await inbox.customer_writes(phone.lstrip("+"), "now to the branch", to=SECOND)
            await inbox.customer_writes(phone.lstrip("+"), "and the main one again")
            convs = await admin.conversations(search=phone.lstrip("+"))
            assert sorted(c["businessNumberId"] for c in convs) == sorted([PHONE_NUMBER_ID, SECOND])
            assert [m["content"] for m in await admin.messages(conv["id"])] == [
                "from the old days",
                "and the main one again",
            ]
        async with stack(url) as again:  # a second start changes nothing
            admin = await account(again, admin=True)
            assert len(await admin.conversations(search=phone.lstrip("+"))) == 2
