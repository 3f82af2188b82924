"""Every part of a template: media headers (by link or uploaded with the send), URL suffix,
copy-code and quick-reply button parameters, in the exact Graph request bodies Meta
documents; what is missing is a 422 before Meta is called; and Meta's
`message_template_status_update` webhook changes what may be sent without a manual sync."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from server.fake_meta_templates import SAMPLE_IMAGE, rich_templates
from tests.servers import PHONE_NUMBER_ID, Stack, eventually
from tests.test_templates import account, conversation, final_status, sends, template_stack  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 4 + b"%%EOF\n"
LINK = "https://bakery.example/media/bread-today.jpg"


@pytest.fixture
async def inbox(template_stack: Stack) -> Stack:
    """The stand-in's default templates plus ones with media headers and buttons, synced."""
    await template_stack.meta_post("/simulate/reset", {})
    template_stack.meta.templates += rich_templates()
    await template_stack.app.state.templates.sync()
    return template_stack


def template_calls(inbox: Stack, phone: str) -> list[dict[str, Any]]:
    return [c["json"]["template"] for c in sends(inbox) if c["json"]["type"] == "template" and c["json"]["to"] == phone]


async def test_the_picker_sees_every_part(inbox: Stack) -> None:
    agent = await account(inbox)
    listed = {t["name"]: t for t in (await agent.get("/api/templates")).json()}
    bread = listed["fresh_bread"]
    assert bread["headerFormat"] == "IMAGE" and bread["headerExample"] == SAMPLE_IMAGE
    assert bread["footer"] == "Reply STOP to opt out" and bread["sendable"] is True
    assert [(b["type"], b["parameter"], b["required"]) for b in bread["buttons"]] == [
        ("URL", "urlSuffix", True),
        ("COPY_CODE", "couponCode", True),
        ("QUICK_REPLY", "payload", False),
    ]
    assert bread["buttons"][0]["url"] == "https://bakery.example/order/{{1}}"
    assert listed["invoice_ready"]["buttons"] == [
        {
            "index": 0,
            "type": "PHONE_NUMBER",
            "text": "Call us",
            "parameter": None,
            "required": False,
            "phoneNumber": "+255222110000",
        }
    ]
    assert listed["order_update"]["headerFormat"] is None and listed["order_update"]["buttons"] == []


async def test_image_header_by_link_and_every_button_parameter(inbox: Stack) -> None:
    agent = await account(inbox)
    conv = await conversation(inbox, agent, hours_ago=30)  # a closed window: templates only
    template = {
        "name": "fresh_bread",
        "language": "en",
        "parameters": ["Amina", "sourdough"],
        "header": {"link": LINK},
        "buttonParameters": ["sourdough", "BREAD10", "not-now-1042"],
    }
    r = await agent.send(conversationId=conv["id"], template=template)
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["content"] == "Hi Amina, today's sourdough is out of the oven. Use the code below for 10% off."
    assert await final_status(agent, conv["id"], msg["id"]) in ("sent", "delivered", "read")
    assert template_calls(inbox, conv["phoneNumber"].lstrip("+")) == [
        {
            "name": "fresh_bread",
            "language": {"code": "en"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": LINK}}]},
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Amina"}, {"type": "text", "text": "sourdough"}],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "sourdough"}],
                },
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": "1",
                    "parameters": [{"type": "coupon_code", "coupon_code": "BREAD10"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "2",
                    "parameters": [{"type": "payload", "payload": "not-now-1042"}],
                },
            ],
        }
    ]
    # Stored as the customer sees it: the header's link and the buttons, URL filled in.
    assert msg["data"]["headerMedia"] == {"type": "image", "link": LINK}
    assert msg["data"]["buttons"] == [
        {"type": "URL", "text": "Order now", "parameter": "sourdough", "url": "https://bakery.example/order/sourdough"},
        {"type": "COPY_CODE", "text": "", "parameter": "BREAD10"},
        {"type": "QUICK_REPLY", "text": "Not now", "parameter": "not-now-1042"},
    ]


async def test_a_document_header_uploaded_with_the_send(inbox: Stack) -> None:
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    template = {"name": "invoice_ready", "language": "en", "parameters": ["#1042"]}
    r = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        headers=agent.headers,
        data={"conversationId": str(conv["id"]), "template": json.dumps(template), "clientId": uuid.uuid4().hex},
        files={"file": ("invoice-1042.pdf", PDF, "application/pdf")},
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["type"] == "template" and msg["content"] == "Your invoice #1042 is attached."
    assert msg["media"]["mimeType"] == "application/pdf" and msg["media"]["filename"] == "invoice-1042.pdf"
    assert msg["data"]["headerMedia"] == {"type": "document", "filename": "invoice-1042.pdf"}
    assert await final_status(agent, conv["id"], msg["id"]) in ("sent", "delivered", "read")
    [upload] = [u for u in inbox.meta.uploads if u["filename"] == "invoice-1042.pdf"]
    assert upload["contentType"] == "application/pdf" and upload["path"] == f"/v21.0/{PHONE_NUMBER_ID}/media"
    assert template_calls(inbox, conv["phoneNumber"].lstrip("+")) == [
        {
            "name": "invoice_ready",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "document", "document": {"id": upload["id"], "filename": "invoice-1042.pdf"}}
                    ],
                },
                {"type": "body", "parameters": [{"type": "text", "text": "#1042"}]},
            ],
        }
    ]
    r = await agent.get(f"/api/media/{msg['media']['id']}")
    assert r.status_code == 200 and r.content == PDF


BREAD = {"name": "fresh_bread", "language": "en", "parameters": ["Amina", "rye"]}


@pytest.mark.parametrize(
    "template,words",
    [
        ({**BREAD, "buttonParameters": ["rye", "CODE"]}, "has an image header: give template.header.link"),
        ({**BREAD, "header": {"link": "ftp://x/y.jpg"}, "buttonParameters": ["rye", "C"]}, "link must be an http(s)"),
        ({**BREAD, "header": {"link": LINK}, "buttonParameters": [None, "CODE"]}, "needs the end of its URL"),
        ({**BREAD, "header": {"link": LINK}, "buttonParameters": ["rye"]}, "needs the code to copy"),
        ({**BREAD, "header": {"link": LINK}, "buttonParameters": ["rye", "X" * 16]}, "codes of at most 15"),
        ({**BREAD, "header": {"link": LINK}, "buttonParameters": ["rye", "C", None, "x"]}, "there is no button 3"),
        ({**BREAD, "header": {"link": LINK, "type": "video"}, "buttonParameters": ["r", "C"]}, "not video"),
        (
            {
                "name": "invoice_ready",
                "language": "en",
                "parameters": ["#1"],
                "header": {"link": LINK},
                "buttonParameters": ["x"],
            },
            "button 0 (Call us) takes no parameter",
        ),
        (
            {"name": "order_update", "language": "en", "parameters": ["A", "B"], "header": {"link": LINK}},
            "has no media header",
        ),
    ],
)
async def test_refused_before_meta_is_called(inbox: Stack, template: dict[str, Any], words: str) -> None:
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    r = await agent.send(conversationId=conv["id"], template=template)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_template_parameters" and words in r.json()["error"], r.json()
    assert template_calls(inbox, conv["phoneNumber"].lstrip("+")) == []


async def test_an_uploaded_header_of_the_wrong_kind_is_refused(inbox: Stack) -> None:
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    template = {"name": "invoice_ready", "language": "en", "parameters": ["#1"]}
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    r = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        headers=agent.headers,
        data={"conversationId": str(conv["id"]), "template": json.dumps(template)},
        files={"file": ("photo.png", png, "image/png")},
    )
    assert r.status_code == 422 and "as a document" in r.json()["error"], r.text
    assert inbox.meta.uploads == []


async def test_the_stand_in_refuses_a_media_header_without_its_file(inbox: Stack) -> None:
    r = await inbox.http.post(
        f"{inbox.meta_url}/v21.0/{PHONE_NUMBER_ID}/messages",
        headers={"Authorization": f"Bearer {inbox.settings.whatsapp_access_token}"},
        json={
            "messaging_product": "whatsapp",
            "to": "255700000002",
            "type": "template",
            "template": {"name": "shop_tour", "language": {"code": "en"}},
        },
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == 132012, r.text


async def test_review_webhooks_change_what_may_be_sent(inbox: Stack) -> None:
    agent = await account(inbox)
    conv = await conversation(inbox, agent, hours_ago=30)

    async def sendable() -> set[str]:
        return {f"{t['name']}/{t['language']}" for t in (await agent.get("/api/templates")).json()}

    assert "order_update/en" in await sendable()
    answer = await inbox.meta_post(
        "/simulate/template-status",
        {"name": "order_update", "language": "en", "event": "PAUSED", "reason": "LOW_QUALITY"},
    )
    assert answer["webhookStatus"] == 200 and answer["value"]["message_template_id"] == 900000000000002
    assert await eventually(lambda: _without(sendable, "order_update/en"))
    listed = {t["name"] + "/" + t["language"]: t for t in (await agent.get("/api/templates", status="all")).json()}
    assert listed["order_update/en"]["status"] == "PAUSED" and listed["order_update/en"]["sendable"] is False
    assert "order_update/sw" in await sendable()  # the other language is another template
    r = await agent.send(
        conversationId=conv["id"], template={"name": "order_update", "language": "en", "parameters": ["A", "B"]}
    )
    assert r.status_code == 422 and r.json()["code"] == "template_not_approved"
    assert "PAUSED" in r.json()["error"]

    for event, expected in (("REJECTED", "REJECTED"), ("DISABLED", "DISABLED"), ("APPROVED", "APPROVED")):
        await inbox.meta_post("/simulate/template-status", {"name": "order_update", "language": "en", "event": event})

        async def status_is(expected: str = expected) -> bool:
            rows = (await agent.get("/api/templates", status="all")).json()
            return any(t["name"] == "order_update" and t["language"] == "en" and t["status"] == expected for t in rows)

        assert await eventually(status_is), event
    assert "order_update/en" in await sendable()
    r = await agent.send(
        conversationId=conv["id"], template={"name": "order_update", "language": "en", "parameters": ["A", "B"]}
    )
    assert r.status_code == 201, r.text


async def test_a_new_template_approved_is_fetched_without_a_sync(inbox: Stack) -> None:
    agent = await account(inbox)
    new = {
        "name": "holiday_hours",
        "language": "en",
        "status": "PENDING",
        "category": "UTILITY",
        "id": "900000000000201",
        "components": [{"type": "BODY", "text": "We are closed on Monday."}],
    }
    inbox.meta.templates.append(new)
    await inbox.meta_post("/simulate/template-status", {"name": "holiday_hours", "language": "en", "event": "APPROVED"})

    async def listed() -> Any:
        return [t for t in (await agent.get("/api/templates")).json() if t["name"] == "holiday_hours"]

    [found] = await eventually(listed)
    assert found["body"] == "We are closed on Monday." and found["sendable"] is True


async def _without(sendable: Any, key: str) -> bool:
    return key not in await sendable()


async def test_a_failed_media_template_is_retried_exactly(inbox: Stack) -> None:
    """Retry (POST …/retry) sends the same template again: its uploaded header uploaded anew,
    its button parameters as first given."""
    agent = await account(inbox)
    conv = await conversation(inbox, agent)
    phone = conv["phoneNumber"].lstrip("+")
    template = {
        "name": "fresh_bread",
        "language": "en",
        "parameters": ["Amina", "rye"],
        "buttonParameters": ["rye", "RYE10", None],
    }
    await inbox.meta_post("/simulate/fail", {"code": 131026, "via": "response"})
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    r = await inbox.http.post(
        f"{inbox.base_url}/api/conversations/send",
        headers=agent.headers,
        data={"conversationId": str(conv["id"]), "template": json.dumps(template)},
        files={"file": ("loaf.png", png, "image/png")},
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert await final_status(agent, conv["id"], msg["id"]) == "failed"
    r = await agent.post(f"/api/conversations/{conv['id']}/messages/{msg['id']}/retry")
    assert r.status_code == 200, r.text
    assert await final_status(agent, conv["id"], msg["id"]) in ("sent", "delivered", "read")
    first, again = template_calls(inbox, phone)
    assert first["components"][1:] == again["components"][1:]
    uploads = [u for u in inbox.meta.uploads if u["filename"] == "loaf.png"]
    assert len(uploads) == 2
    assert again["components"][0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"id": uploads[1]["id"]}}],
    }
    assert [c.get("sub_type") for c in again["components"][2:]] == ["url", "copy_code"]
