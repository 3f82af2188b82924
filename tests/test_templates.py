"""Message templates over loopback with the Meta stand-in: the local copy (synced across
Meta's pages), template sends checked before Meta is called, and the one thing a template
is for: reaching a customer whose 24-hour window is closed."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from server.templates import fill, parse_template, placeholders
from server.whatsapp import error_object
from tests.conftest import DATABASES
from tests.servers import (
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    Agent,
    Stack,
    account,
    database_url,
    eventually,
    new_phone,
    stack,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parent.parent
WABA_ID = "2000000002"  # the stand-in's account
ORDER_BODY = "Hi {{1}}, your order {{2}} has shipped and is on its way."


@pytest.fixture(scope="session", params=DATABASES)
async def template_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An inbox that knows its WhatsApp Business Account, so it can list templates."""
    async with database_url(request.param, tmp_path_factory.mktemp("db")) as url:
        async with stack(
            url, whatsapp_business_account_id=WABA_ID, media_dir=str(tmp_path_factory.mktemp("media"))
        ) as s:
            yield s


@pytest.fixture
async def template_inbox(template_stack: Stack) -> Stack:
    """The stand-in back to its default templates, and the local copy synced from them."""
    await template_stack.meta_post("/simulate/reset", {})
    await template_stack.app.state.templates.sync()
    template_stack.meta.template_requests.clear()
    return template_stack


async def conversation(inbox: Stack, agent: Agent, hours_ago: float = 0) -> dict[str, Any]:
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Customer", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), "hello", timestamp=int(time.time() - hours_ago * 3600))
    conv = await agent.conversation_with(phone)
    assert conv is not None
    return conv


def sends(inbox: Stack) -> list[dict[str, Any]]:
    """The send calls (not mark-reads) the stand-in received."""
    return [q for q in inbox.meta.requests if q["json"] and q["json"].get("type")]


async def final_status(agent: Agent, conversation_id: int, message_id: int) -> str:
    async def status() -> str | None:
        [m] = [m for m in await agent.messages(conversation_id) if m["id"] == message_id]
        return m["status"] if m["status"] != "pending" else None

    return await eventually(status)


# -- pure helpers ----------------------------------------------------------------------------


async def test_placeholders_and_filling() -> None:
    assert placeholders("Hi {{1}}, order {{2}} for {{1}}") == ["1", "2"]
    assert placeholders("Hello {{ first_name }}") == ["first_name"]
    assert placeholders("no params") == []
    assert fill(ORDER_BODY, ["1", "2"], ["Asha", "#7"]) == "Hi Asha, your order #7 has shipped and is on its way."
    parsed = parse_template(
        {
            "name": "x",
            "language": "en",
            "status": "approved",
            "components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "{{2}} then {{1}}"}],
        }
    )
    assert parsed is not None
    assert parsed["status"] == "APPROVED" and parsed["body_params"] == ["1", "2"]
    assert parsed["header_text"] is None and parsed["header_params"] == []
    assert parse_template({"language": "en"}) is None


@pytest.mark.parametrize(
    "code,words",
    [
        (132000, "parameter count"),
        (132001, "does not exist"),
        (132005, "too long"),
        (132007, "policy"),
        (132012, "format"),
        (132015, "paused"),
        (132016, "disabled"),
    ],
)
async def test_template_errors_are_explained(code: int, words: str) -> None:
    assert words in error_object(code, "Meta's title")["message"]


# -- the local copy --------------------------------------------------------------------------


async def test_sync_reads_every_page(template_inbox: Stack) -> None:
    inbox = template_inbox
    admin, agent = await account(inbox, admin=True), await account(inbox)
    r = await admin.post("/api/templates/sync")
    assert r.status_code == 200, r.text
    assert r.json()["synced"] == len(inbox.meta.templates) == 5
    # Two pages: the second asked for with the first page's cursor.
    first, second = inbox.meta.template_requests
    assert first["path"] == f"/v21.0/{WABA_ID}/message_templates" and "after" not in first["query"]
    assert first["query"]["limit"] == "100" and second["query"].get("after")
    assert first["authorization"] == f"Bearer {ACCESS_TOKEN}"

    r = await agent.get("/api/templates")
    assert r.status_code == 200, r.text
    listed = {(t["name"], t["language"]): t for t in r.json()}
    assert set(listed) == {
        ("hello_world", "en_US"),
        ("order_update", "en"),
        ("order_update", "sw"),
        ("appointment_reminder", "en"),
    }  # approved only
    order = listed[("order_update", "en")]
    assert order["body"] == ORDER_BODY and order["parameterCount"] == 2 and order["parameters"] == ["1", "2"]
    assert order["category"] == "UTILITY" and order["status"] == "APPROVED"
    hello = listed[("hello_world", "en_US")]
    assert hello["parameterCount"] == 0 and hello["headerText"] == "Hello World"
    reminder = listed[("appointment_reminder", "en")]
    assert reminder["headerParameterCount"] == 1 and reminder["parameterCount"] == 2

    everything = (await agent.get("/api/templates", status="all")).json()
    [sale] = [t for t in everything if t["name"] == "spring_sale"]
    assert sale["status"] == "PENDING" and len(everything) == 5


async def test_only_admins_refresh_and_removed_templates_go(template_inbox: Stack) -> None:
    inbox = template_inbox
    admin, agent = await account(inbox, admin=True), await account(inbox)
    r = await agent.post("/api/templates/sync")
    assert r.status_code == 403 and inbox.meta.template_requests == []
    await inbox.meta_post("/simulate/templates", {"templates": inbox.meta.templates[:2]})
    r = await admin.post("/api/templates/sync")
    assert r.status_code == 200 and r.json()["synced"] == 2
    names = {(t["name"], t["language"]) for t in (await agent.get("/api/templates", status="all")).json()}
    assert names == {("hello_world", "en_US"), ("order_update", "en")}


async def test_templates_are_synced_at_start_up(tmp_path: Path) -> None:
    async with database_url("sqlite", tmp_path) as url:
        async with stack(url, whatsapp_business_account_id=WABA_ID, media_dir=str(tmp_path / "m")) as s:
            agent = await account(s)

            async def listed() -> list[dict[str, Any]]:
                rows = await s.app.state.db.fetch_all("SELECT name FROM templates")
                return rows

            assert len(await eventually(listed)) == 5
            assert len((await agent.get("/api/templates")).json()) == 4


async def test_without_the_account_id_sync_says_what_is_missing(meta_reset: Stack) -> None:
    # The shared test inbox has no WHATSAPP_BUSINESS_ACCOUNT_ID.
    inbox = meta_reset
    admin = await account(inbox, admin=True)
    r = await admin.post("/api/templates/sync")
    assert r.status_code == 503 and r.json()["code"] == "not_configured"
    assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in r.json()["error"]
    r = await admin.get("/api/templates")
    assert r.status_code == 200 and r.json() == []


# -- sending ---------------------------------------------------------------------------------


async def test_template_send_with_parameters(template_inbox: Stack) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    template = {"name": "order_update", "language": "en", "parameters": ["Asha", "#1042"]}
    r = await agent.send(conversationId=conv["id"], template=template, clientId=uuid.uuid4().hex)
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["type"] == "template" and msg["direction"] == "outbound"
    assert msg["content"] == "Hi Asha, your order #1042 has shipped and is on its way."
    assert msg["data"] == template and msg["wamid"] and msg["status"] != "failed"

    [call] = sends(inbox)
    assert call["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert call["json"]["type"] == "template" and call["json"]["to"] == conv["phoneNumber"].lstrip("+")
    assert call["json"]["template"] == {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "#1042"}]}
        ],
    }
    assert await final_status(agent, conv["id"], msg["id"]) in ("sent", "delivered", "read")
    listed = await agent.conversation_with(conv["phoneNumber"])
    assert listed["lastMessage"]["type"] == "template" and listed["lastMessage"]["content"] == msg["content"]


async def test_templates_without_parameters_and_with_header_parameters(template_inbox: Stack) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    r = await agent.send(conversationId=conv["id"], template={"name": "hello_world", "language": "en_US"})
    assert r.status_code == 201, r.text
    assert r.json()["content"].startswith("Welcome and congratulations")
    assert r.json()["data"] == {"name": "hello_world", "language": "en_US", "parameters": [], "header": "Hello World"}

    r = await agent.send(
        conversationId=conv["id"],
        template={
            "name": "appointment_reminder",
            "language": "en",
            "parameters": ["Monday", "10:00"],
            "headerParameters": ["Asha"],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "Your appointment is on Monday at 10:00. Reply to change it."
    assert r.json()["data"]["header"] == "Reminder for Asha"
    first, second = sends(inbox)
    assert "components" not in first["json"]["template"]
    assert second["json"]["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Asha"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Monday"}, {"type": "text", "text": "10:00"}]},
    ]
    assert all(m["status"] != "failed" for m in await agent.messages(conv["id"]))


# The code each refusal below carries, by the start of its words.
TEMPLATE_REFUSALS = [
    ("takes", "invalid_template_parameters"),
    ("parameter", "invalid_template_parameters"),
    ("line breaks", "invalid_template_parameters"),
    ("must be text", "invalid_template_parameters"),
    ("must be a list", "invalid_template_parameters"),
    ("header", "invalid_template_parameters"),
    ("unknown template", "unknown_template"),
    ("one of", "template_language_required"),
    ("PENDING", "template_not_approved"),
    ("template.name", "invalid_template"),
    ("must be an object", "invalid_template"),
]


@pytest.mark.parametrize(
    "template,status,words",
    [
        ({"name": "order_update", "language": "en", "parameters": ["Asha"]}, 422, "takes 2 parameter(s), 1 given"),
        (
            {"name": "order_update", "language": "en", "parameters": ["a", "b", "c"]},
            422,
            "takes 2 parameter(s), 3 given",
        ),
        ({"name": "order_update", "language": "en"}, 422, "takes 2 parameter(s), 0 given"),
        ({"name": "hello_world", "language": "en_US", "parameters": ["extra"]}, 422, "takes 0 parameter(s)"),
        ({"name": "order_update", "language": "en", "parameters": ["Asha", ""]}, 422, "parameter 2 is empty"),
        ({"name": "order_update", "language": "en", "parameters": ["Asha", "line\nbreak"]}, 422, "line breaks"),
        ({"name": "order_update", "language": "en", "parameters": ["Asha", None]}, 422, "must be text"),
        ({"name": "order_update", "language": "en", "parameters": "Asha"}, 422, "must be a list"),
        ({"name": "appointment_reminder", "language": "en", "parameters": ["Mon", "10"]}, 422, "header"),
        ({"name": "no_such_template", "language": "en"}, 422, "unknown template"),
        ({"name": "order_update", "language": "fr", "parameters": ["a", "b"]}, 422, "unknown template"),
        ({"name": "order_update", "parameters": ["a", "b"]}, 422, "one of: en, sw"),
        ({"name": "spring_sale", "language": "en", "parameters": ["soon"]}, 422, "PENDING, not approved"),
        ({"language": "en"}, 422, "template.name is required"),
        ("order_update", 422, "must be an object"),
    ],
)
async def test_wrong_templates_are_refused_before_calling_meta(
    template_inbox: Stack, template: Any, status: int, words: str
) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    r = await agent.send(conversationId=conv["id"], template=template)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert r.json()["code"] == next(code for start, code in TEMPLATE_REFUSALS if words.startswith(start))
    assert sends(inbox) == []
    assert [m["type"] for m in await agent.messages(conv["id"])] == ["text"]


async def test_one_language_needs_no_language_code(template_inbox: Stack) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    r = await agent.send(conversationId=conv["id"], template={"name": "hello_world"})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["language"] == "en_US"


async def test_a_template_reopens_a_closed_window_where_free_text_is_refused(template_inbox: Stack) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent, hours_ago=25)
    r = await agent.get(f"/api/conversations/{conv['id']}")
    assert r.json()["hasInbound"] is True
    r = await agent.send(conversationId=conv["id"], content="Sorry for the late answer")
    assert r.status_code == 422 and r.json()["code"] == "window_closed"
    assert sends(inbox) == []

    for target in ({"conversationId": conv["id"]}, {"phoneNumber": conv["phoneNumber"]}):
        r = await agent.send(
            **target, template={"name": "order_update", "language": "en", "parameters": ["Asha", "#77"]}
        )
        assert r.status_code == 201, r.text
        assert r.json()["conversationId"] == conv["id"]
        # Sent (not refused); under load the answer may come before WhatsApp's (SEND_WAIT).
        assert await final_status(agent, conv["id"], r.json()["id"]) in ("sent", "delivered", "read")
    assert [c["json"]["type"] for c in sends(inbox)] == ["template", "template"]
    # The window stays closed until the customer answers: free text is still refused.
    r = await agent.send(conversationId=conv["id"], content="Still there?")
    assert r.status_code == 422

    # A template to a number that never wrote starts the conversation.
    phone = new_phone()
    r = await agent.send(phoneNumber=phone, template={"name": "hello_world", "language": "en_US"})
    assert r.status_code == 201, r.text
    assert (await agent.conversation_with(phone))["ownerId"] == agent.id


@pytest.mark.parametrize("code,words", [(132001, "does not exist"), (132015, "paused"), (132016, "disabled")])
async def test_template_errors_from_meta_become_clear_failed_statuses(
    template_inbox: Stack, code: int, words: str
) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": code})
    r = await agent.send(conversationId=conv["id"], template={"name": "hello_world", "language": "en_US"})
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "failed" and msg["error"]["code"] == code and words in msg["error"]["message"]
    assert len(sends(inbox)) == 1  # not retried


async def test_a_template_changed_at_meta_fails_with_the_parameter_count_error(template_inbox: Stack) -> None:
    """The local copy says two parameters; the approved version at Meta now has three."""
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    changed = [dict(t) for t in inbox.meta.templates]
    for t in changed:
        if (t["name"], t["language"]) == ("order_update", "en"):
            t["components"] = [{"type": "BODY", "text": "Hi {{1}}, order {{2}} arrives {{3}}."}]
    await inbox.meta_post("/simulate/templates", {"templates": changed})
    r = await agent.send(
        conversationId=conv["id"], template={"name": "order_update", "language": "en", "parameters": ["Asha", "#1"]}
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "failed" and msg["error"]["code"] == 132000
    assert "parameter count" in msg["error"]["message"]
    # After a refresh the local copy knows, and the same send is refused up front.
    await inbox.app.state.templates.sync()
    r = await agent.send(
        conversationId=conv["id"], template={"name": "order_update", "language": "en", "parameters": ["Asha", "#1"]}
    )
    assert r.status_code == 422 and "takes 3 parameter(s)" in r.json()["error"]
    assert r.json()["code"] == "invalid_template_parameters"


async def test_the_same_client_id_sends_a_template_once(template_inbox: Stack) -> None:
    inbox = template_inbox
    agent = await account(inbox)
    conv = await conversation(inbox, agent, hours_ago=30)
    key = uuid.uuid4().hex
    body = {"conversationId": conv["id"], "clientId": key, "template": {"name": "hello_world", "language": "en_US"}}
    responses = await asyncio.gather(*[agent.send(**body) for _ in range(3)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(sends(inbox)) == 1


# -- the command line ------------------------------------------------------------------------


async def test_sync_templates_command(tmp_path: Path) -> None:
    async with database_url("sqlite", tmp_path) as url:
        async with stack(url, media_dir=str(tmp_path / "m")) as s:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(ROOT),
                "LANG": "C.UTF-8",
                "DATABASE_URL": url,
                "WHATSAPP_API_BASE": s.settings.whatsapp_api_base,
                "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            }

            async def run(extra: dict[str, str]) -> tuple[int, str, str]:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "server",
                    "sync-templates",
                    cwd=tmp_path,
                    env={**env, **extra},
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(proc.communicate(), 60)
                return proc.returncode or 0, out.decode(), err.decode()

            code, out, err = await run({})
            assert code == 1 and "WHATSAPP_BUSINESS_ACCOUNT_ID" in err and "Traceback" not in err
            code, out, err = await run({"WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID})
            assert code == 0, (out, err)
            assert "synced 5 template(s)" in out
            assert "order_update (en): APPROVED, UTILITY, 2 parameter(s)" in out
            assert "spring_sale (en): PENDING" in out
            agent = await account(s)
            assert len((await agent.get("/api/templates")).json()) == 4
