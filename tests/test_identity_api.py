"""What the dashboard's identity views read and do (issue 16), on SQLite and PostgreSQL: the
contact panel's labels and business number, the status counts of one number, a kept webhook
for an unknown number applied again by an admin, and templates and files that leave from the
conversation's business number (the Graph request's phone-number-id path)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from server.auth import new_token
from tests.conftest import DATABASES
from tests.servers import PHONE_NUMBER_ID, Agent, Stack, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECOND = "1000000002"  # the stand-in's second number
WABA_ID = "2000000002"  # the stand-in's account (templates)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="session", params=DATABASES)
async def two_numbers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An inbox for both of the stand-in's numbers, with templates and files."""
    async with database_url(request.param, tmp_path_factory.mktemp("db")) as url:
        async with stack(
            url,
            whatsapp_phone_number_id=f"{PHONE_NUMBER_ID},{SECOND}",
            whatsapp_business_account_id=WABA_ID,
            media_dir=str(tmp_path_factory.mktemp("media")),
        ) as s:
            await s.app.state.templates.sync()
            yield s


async def account(inbox: Stack, admin: bool = False, name: str | None = None) -> Agent:
    email = f"ident-{uuid.uuid4().hex[:10]}@example.com"
    user_id = await inbox.app.state.store.create_user(email, "no password", admin, name)
    token, hashed = new_token()
    await inbox.app.state.store.add_token(user_id, hashed)
    return Agent(inbox, user_id, email, token)


async def on_second(inbox: Stack, agent: Agent, hours_ago: float = 0) -> tuple[str, dict[str, Any]]:
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Branch customer", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    at = int(time.time() - hours_ago * 3600)
    await inbox.customer_writes(phone.lstrip("+"), "hi branch", to=SECOND, timestamp=at)
    [conv] = await agent.conversations(number=SECOND, search=phone.lstrip("+"))
    return phone, conv


async def test_the_contact_panel_has_labels_the_number_and_the_inviters_name(two_numbers: Stack) -> None:
    inbox = two_numbers
    admin = await account(inbox, admin=True)
    agent = await account(inbox, name="Ana Mwita")
    phone, conv = await on_second(inbox, agent)
    label = f"vip-{uuid.uuid4().hex[:6]}"
    assert (await admin.post("/api/labels", {"name": label, "color": "#d97706"})).status_code == 201
    r = await inbox.http.put(
        f"{inbox.base_url}/api/conversations/{conv['id']}/labels", json={"labels": [label]}, headers=agent.headers
    )
    assert r.status_code == 200, r.text
    await inbox.customer_writes(phone.lstrip("+"), "and the bakery", to=PHONE_NUMBER_ID)

    r = await agent.get(f"/api/conversations/{conv['id']}/contact")
    assert r.status_code == 200, r.text
    panel = r.json()
    assert panel["labels"] == [label]
    assert panel["businessNumberId"] == SECOND and panel["businessNumberName"] == f"WhatsApp number {SECOND}"
    assert panel["invitation"]["invitedByName"] == "Ana Mwita" and panel["invitation"]["invitedById"] == agent.id
    assert panel["conversationCount"] == 2  # the same person on both numbers
    other = await account(inbox)
    assert (await other.get(f"/api/conversations/{conv['id']}/contact")).status_code == 404


async def test_the_status_counts_follow_the_number_filter(two_numbers: Stack) -> None:
    inbox = two_numbers
    admin = await account(inbox, admin=True)
    agent = await account(inbox)
    await on_second(inbox, agent)
    await on_second(inbox, agent)
    await inbox.customer_writes(new_phone().lstrip("+"), "main number")
    everything = (await admin.get("/api/conversations/counts")).json()
    second = (await admin.get("/api/conversations/counts", number=SECOND)).json()
    listed = await admin.conversations(number=SECOND, limit=500, status="all")
    assert second["all"] == len(listed) and 2 <= second["all"] < everything["all"]
    mine = (await agent.get("/api/conversations/counts", number=SECOND)).json()
    assert mine["all"] == 2 and mine["open"] == 2
    assert (await agent.get("/api/conversations/counts", number=PHONE_NUMBER_ID)).json()["all"] == 0


async def test_a_kept_webhook_is_applied_once_its_number_is_added(two_numbers: Stack) -> None:
    inbox = two_numbers
    admin, agent = await account(inbox, admin=True), await account(inbox)
    lost = str(1000000200 + uuid.uuid4().int % 10**6)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "to a number nobody added", to=lost)

    async def failure() -> dict[str, Any] | None:
        rows = (await admin.get("/api/webhooks/failures")).json()
        return next((f for f in rows if f["unknownNumberId"] == lost), None)

    kept = await eventually(failure)
    assert kept is not None and lost in kept["reason"]

    replay = f"/api/webhooks/{kept['webhookEventId']}/replay"
    r = await agent.post(replay)
    assert r.status_code == 403 and r.json()["code"] == "admin_only"
    assert (await admin.post("/api/webhooks/999999999/replay")).status_code == 404
    assert (await admin.post("/api/webhooks/nope/replay")).status_code == 404
    # Before the number exists, applying again keeps it apart.
    r = await admin.post(replay)
    assert r.status_code == 200 and r.json()["processed"] is False, r.text
    assert await admin.conversations(number=lost) == []

    assert (await admin.post("/api/numbers", {"id": lost, "displayName": "Found"})).status_code == 201
    r = await admin.post(replay)
    assert r.status_code == 200 and r.json()["processed"] is True, r.text
    convs = await admin.conversations(number=lost)
    assert [c["lastMessage"]["content"] for c in convs] == ["to a number nobody added"]
    assert await failure() is None
    # Idempotent: a second replay stores nothing twice.
    assert (await admin.post(replay)).json()["processed"] is True
    assert len(await admin.messages(convs[0]["id"])) == 1


async def test_templates_and_files_leave_from_the_conversations_number(two_numbers: Stack) -> None:
    inbox = two_numbers
    agent = await account(inbox)
    _, closed = await on_second(inbox, agent, hours_ago=25)
    _, open_ = await on_second(inbox, agent)
    inbox.meta.requests.clear()
    inbox.meta.uploads.clear()

    body = {"conversationId": closed["id"], "template": {"name": "hello_world", "language": "en_US"}}
    r = await agent.send(**body)
    assert r.status_code == 201, r.text
    r = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        headers=agent.headers,
        data={"conversationId": str(open_["id"]), "caption": "your receipt"},
        files={"file": ("receipt.png", PNG, "image/png")},
    )
    assert r.status_code == 201, r.text

    async def sent() -> list[tuple[str, str]]:
        return [
            (q["path"], q["json"]["type"])
            for q in inbox.meta.requests
            if q["json"] and q["json"].get("type") in ("template", "image")
        ]

    assert sorted(await eventually(lambda: _two(sent))) == [
        (f"/v21.0/{SECOND}/messages", "image"),
        (f"/v21.0/{SECOND}/messages", "template"),
    ]
    assert [u["path"] for u in inbox.meta.uploads] == [f"/v21.0/{SECOND}/media"]
    for conv in (closed, open_):
        msgs = await eventually(lambda c=conv: _settled(agent, c["id"]))
        assert msgs, f"the send in conversation {conv['id']} was not accepted"


async def _two(sent: Any) -> list[tuple[str, str]] | None:
    rows = await sent()
    return rows if len(rows) >= 2 else None


async def _settled(agent: Agent, conversation_id: int) -> list[dict[str, Any]]:
    return [
        m for m in await agent.messages(conversation_id) if m["direction"] == "outbound" and m["status"] != "pending"
    ]


async def test_a_template_or_file_to_a_new_number_leaves_from_the_number_chosen(two_numbers: Stack) -> None:
    """A conversation an agent starts by phone number with `businessNumberId`: a template (the
    only thing a stranger may get) and a file leave from that number, and the conversation is
    on it."""
    inbox = two_numbers
    agent = await account(inbox)
    first, second = new_phone(), new_phone()
    for phone in (first, second):
        r = await agent.post("/api/invitations", {"name": "New customer", "phoneNumber": phone})
        assert r.status_code == 201, r.text
    inbox.meta.requests.clear()
    inbox.meta.uploads.clear()
    template = {"name": "hello_world", "language": "en_US"}
    r = await agent.send(phoneNumber=first, businessNumberId=SECOND, template=template)
    assert r.status_code == 201, r.text
    r = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        headers=agent.headers,
        data={"phoneNumber": second, "businessNumberId": SECOND},
        files={"file": ("receipt.png", PNG, "image/png")},
    )
    assert r.status_code == 201, r.text

    async def sent() -> list[tuple[str, str]] | None:
        rows = [
            (q["path"], q["json"]["to"])
            for q in inbox.meta.requests
            if q["json"] and q["json"].get("type") in ("template", "image")
        ]
        return rows if len(rows) >= 2 else None

    assert sorted(await eventually(sent) or []) == sorted(
        [(f"/v21.0/{SECOND}/messages", first.lstrip("+")), (f"/v21.0/{SECOND}/messages", second.lstrip("+"))]
    )
    assert [u["path"] for u in inbox.meta.uploads] == [f"/v21.0/{SECOND}/media"]
    for phone in (first, second):
        [conv] = await agent.conversations(search=phone.lstrip("+"))
        assert conv["businessNumberId"] == SECOND
