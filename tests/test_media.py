"""Media both ways, over loopback with the Meta stand-in: inbound files downloaded once in the
background (retried, checked, then served only to who may see the conversation), and files
an agent attaches uploaded to Meta and sent by id."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

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
RETRY_DELAYS = (0.05, 0.1, 0.2)  # four attempts in all
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(64)


@pytest.fixture(scope="session", params=DATABASES)
async def media_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An inbox with its own media folder and quick download retries."""
    async with database_url(request.param, tmp_path_factory.mktemp("db")) as url:
        media_dir = tmp_path_factory.mktemp("media")
        async with stack(url, media_dir=str(media_dir), media_retry_delays=RETRY_DELAYS) as s:
            yield s


@pytest.fixture
async def media_inbox(media_stack: Stack) -> Stack:
    await media_stack.meta_post("/simulate/reset", {})
    return media_stack


async def register(inbox: Stack, data: bytes, mime: str) -> str:
    """A file the customer's phone uploaded to Meta; returns its media id."""
    r = await inbox.http.post(f"{inbox.meta_url}/simulate/media", content=data, headers={"Content-Type": mime})
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    return r.json()["id"]


async def customer_sends(inbox: Stack, phone: str, kind: str, media: dict[str, Any], **extra: Any) -> str:
    return await inbox.customer_writes(phone.lstrip("+"), name="Media Customer", type=kind, **{kind: media}, **extra)


async def invited_conversation(inbox: Stack, agent: Agent, **extra: Any) -> dict[str, Any]:
    phone = new_phone()
    r = await agent.post("/api/invitations", {"name": "Customer", "phoneNumber": phone})
    assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), "hello", **extra)
    conv = await agent.conversation_with(phone)
    assert conv is not None
    return conv


async def media_status(agent: Agent, conversation_id: int, wamid: str, wanted: str) -> dict[str, Any] | None:
    async def check() -> dict[str, Any] | None:
        [m] = [m for m in await agent.messages(conversation_id) if m["wamid"] == wamid]
        return m if m["media"]["status"] == wanted else None

    return await eventually(check)


def fetches(inbox: Stack, media_id: str, stage: str) -> list[dict[str, Any]]:
    """The stand-in's media calls for one id: `url` lookups or `download`s."""
    out = []
    for q in inbox.meta.media_requests:
        if q["stage"] != stage:
            continue
        if q.get("mediaId") == media_id or q["path"].endswith(f"/{media_id}"):
            out.append(q)
    return out


async def get_media(inbox: Stack, media_id: str, **kwargs: Any) -> Any:
    return await inbox.http.get(f"{inbox.base_url}/api/media/{media_id}", **kwargs)


# -- inbound ---------------------------------------------------------------------------------


async def test_inbound_image_is_downloaded_once_and_served_only_to_its_owner(media_inbox: Stack) -> None:
    inbox = media_inbox
    owner, other, admin = await account(inbox), await account(inbox), await account(inbox, admin=True)
    conv = await invited_conversation(inbox, owner)
    r = await owner.get("/api/events")
    since = r.json()["lastId"]
    media_id = await register(inbox, PNG, "image/png")
    wamid = await customer_sends(
        inbox, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/png", "caption": "my broken lamp"}
    )

    m = await media_status(owner, conv["id"], wamid, "ready")
    assert m is not None, await owner.messages(conv["id"])
    assert m["type"] == "image" and m["content"] == "my broken lamp"
    assert m["media"]["id"] == media_id and m["media"]["mimeType"] == "image/png"
    assert m["media"]["size"] == len(PNG) and m["media"]["caption"] == "my broken lamp"

    # The dashboard heard about it: message.created (pending), then message.updated (ready).
    r = await owner.get("/api/events", since=since)
    mine = [e for e in r.json()["events"] if e["type"].startswith("message.") and e["data"]["wamid"] == wamid]
    assert [e["type"] for e in mine][0] == "message.created"
    assert mine[0]["data"]["media"]["status"] == "pending"
    assert mine[-1]["type"] == "message.updated" and mine[-1]["data"]["media"]["status"] == "ready"

    # Served with its type, by header, by the dashboard's cookie, or by ?token=.
    for kwargs in (
        {"headers": owner.headers},
        {"headers": {"Cookie": f"inbox_session={owner.token}"}},
        {"params": {"token": owner.token}},
        {"headers": admin.headers},
    ):
        r = await get_media(inbox, media_id, **kwargs)
        assert r.status_code == 200, (kwargs, r.text)
        assert r.content == PNG
        assert r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"
    # Not to anyone else, nor to nobody.
    r = await get_media(inbox, media_id, headers=other.headers)
    assert r.status_code == 404 and r.json()["code"] == "media_not_found"
    assert (await get_media(inbox, media_id, headers={"Cookie": f"inbox_session={other.token}"})).status_code == 404
    assert (await get_media(inbox, media_id)).status_code == 401
    assert (await get_media(inbox, "123456789", headers=owner.headers)).status_code == 404

    # Downloaded once, with the access token, even when Meta delivers the webhook again.
    await customer_sends(inbox, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/png"}, wamid=wamid)
    await asyncio.sleep(0.3)
    assert len(fetches(inbox, media_id, "url")) == 1
    [download] = fetches(inbox, media_id, "download")
    assert download["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert len([x for x in await owner.messages(conv["id"]) if x["wamid"] == wamid]) == 1
    # The bytes are in the media folder, stored by content.
    digest = hashlib.sha256(PNG).hexdigest()
    assert (Path(inbox.settings.media_dir) / digest[:2] / digest).read_bytes() == PNG


@pytest.mark.parametrize(
    "kind,mime,data,extra",
    [
        ("video", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + os.urandom(200), {}),
        ("audio", "audio/ogg", b"OggS" + os.urandom(100), {"voice": True}),
        ("document", "application/pdf", b"%PDF-1.4\n" + os.urandom(300), {"filename": "Invoice 7.pdf"}),
        ("sticker", "image/webp", b"RIFF\x20\x00\x00\x00WEBPVP8 " + os.urandom(20), {"animated": False}),
    ],
)
async def test_every_media_kind_is_downloaded(
    media_inbox: Stack, kind: str, mime: str, data: bytes, extra: dict[str, Any]
) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    media_id = await register(inbox, data, mime)
    wamid = await customer_sends(inbox, conv["phoneNumber"], kind, {"id": media_id, "mime_type": mime, **extra})
    m = await media_status(agent, conv["id"], wamid, "ready")
    assert m is not None and m["type"] == kind
    r = await get_media(inbox, media_id, headers=agent.headers)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"].split(";")[0] == mime
    if kind == "document":
        # Served as a download, never rendered by the browser in the app's origin.
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "Invoice" in r.headers["content-disposition"]
    else:
        assert r.headers["content-disposition"].startswith("inline")


async def test_a_download_failing_twice_then_succeeding_ends_with_the_bytes(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    await inbox.meta_post("/simulate/media-fail", {"times": 2})
    media_id = await register(inbox, JPEG, "image/jpeg")
    started = time.monotonic()
    wamid = await customer_sends(inbox, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/jpeg"})
    # The webhook was acknowledged without waiting for the file, and the message is there.
    [m] = [m for m in await agent.messages(conv["id"]) if m["wamid"] == wamid]
    assert m["media"]["status"] in ("pending", "ready")

    m = await media_status(agent, conv["id"], wamid, "ready")
    assert m is not None
    assert time.monotonic() - started >= RETRY_DELAYS[0] + RETRY_DELAYS[1]
    assert len(fetches(inbox, media_id, "url")) == 3
    assert len(fetches(inbox, media_id, "download")) == 1
    r = await get_media(inbox, media_id, headers=agent.headers)
    assert r.status_code == 200 and r.content == JPEG and r.headers["content-type"] == "image/jpeg"


async def test_bytes_that_do_not_match_their_sha256_are_fetched_again(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    await inbox.meta_post("/simulate/media-fail", {"times": 1, "stage": "corrupt"})
    media_id = await register(inbox, PNG, "image/png")
    wamid = await customer_sends(inbox, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/png"})
    assert await media_status(agent, conv["id"], wamid, "ready") is not None
    assert len(fetches(inbox, media_id, "download")) == 2
    r = await get_media(inbox, media_id, headers=agent.headers)
    assert r.content == PNG


async def test_a_slow_download_does_not_hold_the_webhook(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    await inbox.meta_post("/simulate/media-fail", {"times": 1, "stage": "download", "delay": 1.0})
    media_id = await register(inbox, PNG, "image/png")
    started = time.monotonic()
    wamid = await customer_sends(inbox, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/png"})
    assert time.monotonic() - started < 0.8  # acknowledged while the download hangs
    r = await get_media(inbox, media_id, headers=agent.headers)
    assert r.status_code == 503 and r.json()["status"] == "pending"
    # The next message is stored and shown meanwhile.
    await inbox.customer_writes(conv["phoneNumber"].lstrip("+"), "did you get it?")
    assert (await agent.messages(conv["id"]))[-1]["content"] == "did you get it?"
    assert await media_status(agent, conv["id"], wamid, "ready") is not None


async def test_a_download_failing_every_time_becomes_unavailable_and_can_be_retried_by_hand(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    attempts = len(RETRY_DELAYS) + 1
    await inbox.meta_post("/simulate/media-fail", {"times": attempts, "stage": "download"})
    media_id = await register(inbox, JPEG, "image/jpeg")
    wamid = await customer_sends(inbox, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/jpeg"})
    m = await media_status(agent, conv["id"], wamid, "unavailable")
    assert m is not None
    assert len(fetches(inbox, media_id, "download")) == attempts
    await asyncio.sleep(0.3)  # no attempt after the last one
    assert len(fetches(inbox, media_id, "download")) == attempts
    r = await get_media(inbox, media_id, headers=agent.headers)
    assert r.status_code == 410 and r.json()["status"] == "unavailable"

    # By hand (what `python -m server download-media --retry-failed` runs).
    counts = await inbox.app.state.media.download_now(retry_failed=True)
    assert counts["ready"] >= 1
    assert await media_status(agent, conv["id"], wamid, "ready") is not None
    assert (await get_media(inbox, media_id, headers=agent.headers)).content == JPEG


# -- outbound --------------------------------------------------------------------------------


async def send_file(agent: Agent, fields: dict[str, Any], name: str, data: bytes, mime: str) -> Any:
    return await agent.stack.http.post(
        f"{agent.stack.base_url}/api/conversations/send",
        headers=agent.headers,
        data={k: str(v) for k, v in fields.items()},
        files={"file": (name, data, mime)},
    )


def message_calls(inbox: Stack) -> list[dict[str, Any]]:
    return [
        q for q in inbox.meta.requests if q["json"] and q["json"].get("type") != "text" and "status" not in q["json"]
    ]


async def test_send_an_image_with_a_caption(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent, other = await account(inbox), await account(inbox)
    conv = await invited_conversation(inbox, agent)
    r = await send_file(
        agent,
        {"conversationId": conv["id"], "caption": "Here is your receipt", "clientId": uuid.uuid4().hex},
        "receipt.png",
        PNG,
        "image/png",
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["direction"] == "outbound" and msg["type"] == "image"
    assert msg["content"] == "Here is your receipt" and msg["wamid"] and msg["status"] != "failed"
    media = msg["media"]
    assert media["status"] == "ready" and media["mimeType"] == "image/png" and media["size"] == len(PNG)
    assert media["caption"] == "Here is your receipt" and media["sha256"] == hashlib.sha256(PNG).hexdigest()

    # The stand-in received the file, then a send by its id with the caption.
    [upload] = inbox.meta.uploads
    assert upload["path"] == f"/v21.0/{PHONE_NUMBER_ID}/media"
    assert upload["messaging_product"] == "whatsapp" and upload["type"] == "image/png"
    assert upload["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert upload["sha256"] == hashlib.sha256(PNG).hexdigest() and upload["filename"] == "receipt.png"
    [call] = message_calls(inbox)
    assert call["json"]["to"] == conv["phoneNumber"].lstrip("+")
    assert call["json"]["type"] == "image"
    assert call["json"]["image"] == {"id": upload["id"], "caption": "Here is your receipt"}

    # The agent sees what they sent; nobody else does.
    [stored] = [m for m in await agent.messages(conv["id"]) if m["id"] == msg["id"]]
    assert stored["media"] == media
    r = await get_media(inbox, media["id"], headers=agent.headers)
    assert r.status_code == 200 and r.content == PNG and r.headers["content-type"] == "image/png"
    assert (await get_media(inbox, media["id"], headers=other.headers)).status_code == 404


async def test_send_a_document_keeps_its_filename(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Invoice", "phoneNumber": phone})
    await inbox.customer_writes(phone.lstrip("+"), "send me the invoice")
    pdf = b"%PDF-1.7\n" + os.urandom(500)
    r = await send_file(agent, {"phoneNumber": phone}, "Invoice März.pdf", pdf, "application/pdf")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["type"] == "document" and msg["content"] == "Invoice März.pdf"
    assert msg["media"]["filename"] == "Invoice März.pdf"
    [call] = message_calls(inbox)
    assert call["json"]["document"] == {"id": inbox.meta.uploads[0]["id"], "filename": "Invoice März.pdf"}
    r = await get_media(inbox, msg["media"]["id"], headers=agent.headers)
    assert r.content == pdf and r.headers["content-disposition"].startswith("attachment;")


async def test_the_same_client_id_uploads_and_sends_once(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    fields = {"conversationId": conv["id"], "clientId": uuid.uuid4().hex}
    first = await send_file(agent, fields, "a.jpg", JPEG, "image/jpeg")
    again = await send_file(agent, fields, "a.jpg", JPEG, "image/jpeg")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(inbox.meta.uploads) == 1 and len(message_calls(inbox)) == 1


BIG_JPEG = JPEG + bytes(5 * 1024 * 1024)
REFUSAL_CODES = {
    "images up to 5.0 MB": "file_too_large",
    "image/gif": "unsupported_file_type",
    "does not accept": "unsupported_file_type",
    "not a valid PNG": "invalid_image",
    "empty": "file_empty",
    "caption": "caption_not_allowed",
    "stickers up to 100 KB": "file_too_large",
    "type must be one of": "invalid_media_type",
    "1024": "caption_too_long",
}


@pytest.mark.parametrize(
    "name,data,mime,fields,words",
    [
        ("big.jpg", BIG_JPEG, "image/jpeg", {}, "images up to 5.0 MB"),
        ("anim.gif", b"GIF89a" + os.urandom(50), "image/gif", {}, "image/gif"),
        ("setup.exe", b"MZ" + os.urandom(50), "application/x-msdownload", {}, "does not accept"),
        ("fake.png", b"not a png at all", "image/png", {}, "not a valid PNG"),
        ("empty.pdf", b"", "application/pdf", {}, "empty"),
        ("voice.ogg", b"OggS" + os.urandom(50), "audio/ogg", {"caption": "listen"}, "caption"),
        (
            "sticker.webp",
            b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(101 * 1024),
            "image/webp",
            {},
            "stickers up to 100 KB",
        ),
        ("photo.png", PNG, "image/png", {"type": "location"}, "type must be one of"),
        ("photo.png", PNG, "image/png", {"caption": "x" * 1025}, "1024"),
    ],
)
async def test_files_whatsapp_would_refuse_are_refused_before_anything_is_sent(
    media_inbox: Stack, name: str, data: bytes, mime: str, fields: dict[str, Any], words: str
) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    r = await send_file(agent, {"conversationId": conv["id"], **fields}, name, data, mime)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == REFUSAL_CODES[words] and words in r.json()["error"]
    assert inbox.meta.uploads == [] and message_calls(inbox) == []
    assert [m["type"] for m in await agent.messages(conv["id"])] == ["text"]


async def test_a_form_without_a_file_is_refused(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    r = await agent.stack.http.post(
        f"{inbox.base_url}/api/conversations/send",
        headers=agent.headers,
        data={"conversationId": str(conv["id"]), "caption": "no file"},
        files={"other": ("x.txt", b"x", "text/plain")},
    )
    assert r.status_code == 422 and r.json()["code"] == "file_missing"


async def test_a_file_into_a_closed_window_is_refused(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent, timestamp=int(time.time()) - 25 * 3600)
    r = await send_file(agent, {"conversationId": conv["id"], "caption": "late"}, "p.png", PNG, "image/png")
    assert r.status_code == 422 and r.json()["code"] == "window_closed"
    assert inbox.meta.uploads == [] and message_calls(inbox) == []


async def test_a_failed_upload_is_kept_as_failed_with_its_reason(media_inbox: Stack) -> None:
    inbox = media_inbox
    agent = await account(inbox)
    conv = await invited_conversation(inbox, agent)
    await inbox.meta_post("/simulate/fail", {"code": 131053})  # the send call is refused
    r = await send_file(agent, {"conversationId": conv["id"]}, "p.png", PNG, "image/png")
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["status"] == "failed" and msg["error"]["code"] == 131053
    assert "media" in msg["error"]["message"].lower()
    # Still the agent's file to look at.
    assert (await get_media(inbox, msg["media"]["id"], headers=agent.headers)).content == PNG


# -- the command line ------------------------------------------------------------------------


async def test_download_media_command_retries_by_hand(tmp_path: Path) -> None:
    """`python -m server download-media --retry-failed` in its own process, next to a server."""
    async with database_url("sqlite", tmp_path) as url:
        media_dir = tmp_path / "media"
        async with stack(url, media_dir=str(media_dir), media_retry_delays=(0.05,)) as s:
            agent = await account(s)
            conv = await invited_conversation(s, agent)
            await s.meta_post("/simulate/media-fail", {"times": 2, "stage": "download"})
            media_id = await register(s, JPEG, "image/jpeg")
            wamid = await customer_sends(s, conv["phoneNumber"], "image", {"id": media_id, "mime_type": "image/jpeg"})
            assert await media_status(agent, conv["id"], wamid, "unavailable") is not None

            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(ROOT),
                "LANG": "C.UTF-8",
                "DATABASE_URL": url,
                "WHATSAPP_API_BASE": s.settings.whatsapp_api_base,
                "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
                "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                "MEDIA_DIR": str(media_dir),
            }

            async def run(*args: str) -> tuple[int, str, str]:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "server",
                    "download-media",
                    *args,
                    cwd=tmp_path,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(proc.communicate(), 60)
                return proc.returncode or 0, out.decode(), err.decode()

            code, out, err = await run()  # nothing pending: unavailable ones are left alone
            assert code == 0 and "tried 0 file(s)" in out, (out, err)
            code, out, err = await run("--retry-failed")
            assert code == 0 and "1 downloaded" in out, (out, err)
            assert "Traceback" not in err
            r = await get_media(s, media_id, headers=agent.headers)
            assert r.status_code == 200 and r.content == JPEG
