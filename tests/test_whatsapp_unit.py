"""The Cloud API client in process, against httpx's MockTransport: what it sends, what it
retries (and what it must never send twice), and how Meta's answers become errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from server.whatsapp import CloudAPI, SendError

BASE = "https://graph.example/v21.0"
Handler = Callable[[httpx.Request], httpx.Response]


def api(handler: Handler, token: str = "tok", number: str = "111", delays: tuple[float, ...] = (0.0, 0.0)) -> CloudAPI:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return CloudAPI(client, BASE, token, number, retry_delays=delays)


def sent(wamid: str = "wamid.1") -> httpx.Response:
    return httpx.Response(200, json={"messages": [{"id": wamid}]})


def meta_error(status: int, code: int, message: str = "refused") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, "error_data": {"details": "why"}}})


async def test_a_text_goes_to_the_number_with_the_token_and_returns_the_wamid() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sent("wamid.abc")

    assert await api(handler).send_text("255712345678", "hi", reply_to_wamid="wamid.q") == "wamid.abc"
    [request] = seen
    assert str(request.url) == f"{BASE}/111/messages"
    assert request.headers["Authorization"] == "Bearer tok"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "255712345678",
        "type": "text",
        "text": {"body": "hi", "preview_url": False},
        "context": {"message_id": "wamid.q"},
    }


async def test_a_user_id_is_sent_as_recipient_from_the_chosen_number() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sent()

    await api(handler).send_message("US.1349", "image", {"id": "m1"}, from_id="222")
    body = json.loads(seen[0].content)
    assert str(seen[0].url) == f"{BASE}/222/messages"
    assert body["recipient"] == "US.1349" and "to" not in body and body["image"] == {"id": "m1"}


async def test_a_server_error_is_retried_and_then_succeeds() -> None:
    answers = [httpx.Response(503, text="busy"), sent("wamid.2")]
    assert await api(lambda request: answers.pop(0)).send_text("255712345678", "hi") == "wamid.2"
    assert answers == []


async def test_a_rate_limit_is_retried_until_the_delays_run_out() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return meta_error(429, 130429, "rate limit hit")

    with pytest.raises(SendError) as caught:
        await api(handler, delays=(0.0, 0.0)).send_text("255712345678", "hi")
    assert len(calls) == 3 and caught.value.retryable and caught.value.error["code"] == 130429


async def test_a_refusal_is_not_retried_and_keeps_metas_reason() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return meta_error(400, 131026, "Message undeliverable")

    with pytest.raises(SendError) as caught:
        await api(handler).send_text("255712345678", "hi")
    assert len(calls) == 1 and not caught.value.retryable and caught.value.http_status == 400
    assert caught.value.error["code"] == 131026 and caught.value.error["detail"] == "why"
    assert "could not deliver" in str(caught.value)


async def test_a_send_cut_off_after_it_left_is_uncertain_and_never_repeated() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(SendError) as caught:
        await api(handler).send_text("255712345678", "hi")
    assert len(calls) == 1 and caught.value.error.get("uncertain") is True


async def test_a_connection_that_never_opened_is_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return sent()

    assert await api(handler).send_text("255712345678", "hi") == "wamid.1"
    assert len(calls) == 2


async def test_an_answer_without_a_message_id_is_uncertain() -> None:
    with pytest.raises(SendError) as caught:
        await api(lambda request: httpx.Response(200, json={"ok": True})).send_text("255712345678", "hi")
    assert caught.value.error.get("uncertain") is True


async def test_an_unauthorised_answer_without_a_code_is_an_expired_token() -> None:
    with pytest.raises(SendError) as caught:
        await api(lambda request: httpx.Response(401, text="nope")).send_text("255712345678", "hi")
    assert caught.value.error["code"] == 190 and "WHATSAPP_ACCESS_TOKEN" in str(caught.value)


async def test_without_token_or_number_nothing_is_sent_and_the_settings_are_named() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with pytest.raises(SendError) as caught:
        await api(handler, token="", number="").send_text("255712345678", "hi")
    assert str(caught.value) == "Sending is not configured: set WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID."


async def test_a_download_stops_past_its_size_limit() -> None:
    client = api(lambda request: httpx.Response(200, content=b"x" * 100))
    assert await client.download(f"{BASE}/media/1", max_bytes=100, timeout=5) == b"x" * 100
    with pytest.raises(SendError) as caught:
        await client.download(f"{BASE}/media/1", max_bytes=99, timeout=5)
    assert caught.value.error["title"] == "Too large" and not caught.value.retryable


async def test_an_upload_returns_its_media_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "4490709327384033"})

    assert await api(handler).upload_media(b"%PDF-1.4", "application/pdf", "menu.pdf") == "4490709327384033"
    assert str(seen[0].url) == f"{BASE}/111/media" and b'filename="menu.pdf"' in seen[0].content
