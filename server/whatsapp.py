"""The WhatsApp Cloud API client, and what Meta's error codes mean to an agent.

The base URL is a setting, so tests and the demo talk to the stand-in on loopback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

# Codes worth retrying: Meta's rate limits and transient server errors.
RETRYABLE_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131056}

_EXPLANATIONS = {
    131047: "More than 24 hours have passed since the customer last wrote: only an approved "
    "template can re-open the conversation.",
    130429: "WhatsApp's rate limit was hit (too many messages per second); the message was retried and still refused.",
    131056: "Too many messages were sent to this customer in a short time; wait a moment and retry.",
    190: "The WhatsApp access token is invalid or expired: update WHATSAPP_ACCESS_TOKEN.",
    131026: "WhatsApp could not deliver the message: the number may not use WhatsApp, or the "
    "customer has not accepted the latest terms.",
    131030: "This number is not in the test number's allowed recipient list.",
    131031: "The WhatsApp Business account is locked.",
    131042: "There is a payment problem with the WhatsApp Business account.",
    131048: "Spam rate limit: too many of your messages were blocked or reported.",
    131049: "Meta chose not to deliver this message to keep engagement healthy; try later.",
    131051: "This message type is not supported by WhatsApp.",
    131052: "The media could not be downloaded from the customer's message.",
    131053: "The media could not be uploaded to WhatsApp.",
    132000: "The template's parameter count does not match the approved template.",
    132001: "The template does not exist in this language or is not approved.",
    132005: "The template's text with the parameters filled in is too long.",
    132007: "The template's content breaks WhatsApp's policy (e.g. the parameters' text); it was not sent.",
    132012: "A template parameter has the wrong format (e.g. text where WhatsApp expects a "
    "currency, a date or a media header).",
    132015: "The template is paused because of low quality ratings; edit it or wait before sending it again.",
    132016: "The template was paused too many times and is now permanently disabled: create a new one.",
    132068: "The template's flow is blocked.",
    132069: "The template's flow is throttled: too many messages with this flow were sent in the last hour.",
    133010: "The business phone number is not registered on WhatsApp.",
    368: "The WhatsApp account is temporarily blocked for policy violations.",
    100: "WhatsApp refused a parameter of the request.",
    10: "The access token lacks the permission to send messages for this number.",
    131000: "WhatsApp had an internal error; the message was retried and still failed.",
}


def explain(code: int | None, title: str | None = None, detail: str | None = None) -> str:
    """One sentence an agent understands, for a Meta error code."""
    if code in _EXPLANATIONS:
        return _EXPLANATIONS[code]
    parts = [p for p in (title, detail) if p]
    return "WhatsApp refused the message: " + (" – ".join(parts) if parts else f"error {code}") + "."


def error_object(code: Any, title: Any = None, detail: Any = None) -> dict[str, Any]:
    """The `error` shape the API and the database use."""
    try:
        code_int: int | None = int(code) if code is not None else None
    except (TypeError, ValueError):
        code_int = None
    title = str(title) if title else None
    detail = str(detail) if detail else None
    return {"code": code_int, "title": title, "detail": detail, "message": explain(code_int, title, detail)}


def uncertain_error(detail: str) -> dict[str, Any]:
    """The error of a send that may have reached the customer: the call was cut off, or
    WhatsApp answered without saying which message it took. `uncertain` tells the dashboard
    (and scripts) to check before resending."""
    err = error_object(None, "Not confirmed", detail)
    err["message"] = (
        f"This message may not have been sent: WhatsApp did not confirm it ({detail}). It may or "
        "may not have reached the customer: check before resending."
    )
    err["uncertain"] = True
    return err


@dataclass
class SendError(Exception):
    """Meta refused the call (or could not be reached); `error` is the stored error object."""

    error: dict[str, Any]
    retryable: bool
    http_status: int | None = None

    def __str__(self) -> str:
        return str(self.error["message"])


def recipient(to: str) -> dict[str, str]:
    """`to` for a phone number (wa_id digits); `recipient` for a business-scoped user id
    (BSUID, e.g. `US.13491208655302741918`), Meta's way to reach a customer known only by it."""
    return {"to": to} if to.isdigit() else {"recipient": to}


class CloudAPI:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        access_token: str,
        phone_number_id: str,
        retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0),
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._token = access_token
        self._phone_number_id = phone_number_id
        self._retry_delays = retry_delays

    @classmethod
    def from_settings(cls, client: httpx.AsyncClient, settings: Settings) -> CloudAPI:
        return cls(
            client,
            settings.whatsapp_api_base,
            settings.whatsapp_access_token,
            (settings.phone_number_ids or [""])[0],
            settings.send_retry_delays,
        )

    @property
    def configured(self) -> bool:
        return bool(self._token and self._phone_number_id)

    def _missing(self) -> SendError:
        missing = [
            n
            for n, v in (("WHATSAPP_ACCESS_TOKEN", self._token), ("WHATSAPP_PHONE_NUMBER_ID", self._phone_number_id))
            if not v
        ]
        err = error_object(None, "Not configured", f"{' and '.join(missing)} not set")
        err["message"] = f"Sending is not configured: set {' and '.join(missing)}."
        return SendError(err, retryable=False)

    async def send_text(self, to: str, body: str, reply_to_wamid: str | None = None, from_id: str | None = None) -> str:
        """Send a text message (from business number `from_id`, else the first configured);
        returns Meta's wamid. Retries transient failures."""
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **recipient(to),
            "type": "text",
            "text": {"body": body, "preview_url": False},
        }
        if reply_to_wamid:
            payload["context"] = {"message_id": reply_to_wamid}
        return _wamid(await self._post_messages(payload, from_id))

    async def send_message(
        self,
        to: str,
        kind: str,
        body: dict[str, Any] | list[dict[str, Any]],
        reply_to_wamid: str | None = None,
        from_id: str | None = None,
    ) -> str:
        """Send a message of any type (`image`, `document`, `template`, …) whose object is
        `body` (a list for `contacts`); returns Meta's wamid. Retries transient failures."""
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **recipient(to),
            "type": kind,
            kind: body,
        }
        if reply_to_wamid:
            payload["context"] = {"message_id": reply_to_wamid}
        return _wamid(await self._post_messages(payload, from_id))

    async def upload_media(self, data: bytes, mime_type: str, filename: str, from_id: str | None = None) -> str:
        """Upload a file for sending (`POST /{phone-number-id}/media`); returns its media id.
        An upload is safe to repeat (an unused one just expires), so every failure that may
        be transient is retried."""
        if not self.configured:
            raise self._missing()
        url = f"{self._base}/{from_id or self._phone_number_id}/media"

        async def once() -> dict[str, Any]:
            return await self._request(
                "POST",
                url,
                safe_to_retry=True,
                data={"messaging_product": "whatsapp", "type": mime_type},
                files={"file": (filename, data, mime_type)},
            )

        answer = await self._retrying(once, "upload")
        media_id = answer.get("id")
        if not media_id:
            raise SendError(error_object(None, "Unexpected answer", f"no media id in {answer!r:.200}"), False)
        return str(media_id)

    async def get_json(
        self, path_or_url: str, params: dict[str, Any] | None = None, timeout: float | None = None, retry: bool = True
    ) -> dict[str, Any]:
        """GET a Graph API object (a path under the base URL, or a full URL such as a
        `paging.next` link) with the access token; retries transient failures unless told not to."""
        if not self._token:
            raise self._missing()
        url = path_or_url if "://" in path_or_url else f"{self._base}/{path_or_url.lstrip('/')}"

        async def once() -> dict[str, Any]:
            kwargs: dict[str, Any] = {"params": params}
            if timeout is not None:
                kwargs["timeout"] = timeout
            return await self._request("GET", url, safe_to_retry=True, **kwargs)

        return await self._retrying(once, "GET") if retry else await once()

    async def download(self, url: str, max_bytes: int, timeout: float) -> bytes:
        """The bytes behind a media URL (which needs the access token too), at most
        `max_bytes` of them. One attempt: the caller schedules retries."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._client.stream("GET", url, headers=self._auth(), timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from(response)
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise SendError(error_object(None, "Too large", f"more than {max_bytes} bytes"), False)
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            err = error_object(None, "Network error", f"{type(exc).__name__}: {exc}")
            raise SendError(err, retryable=True) from exc
        return b"".join(chunks)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def mark_read(self, wamid: str, from_id: str | None = None) -> None:
        """Blue ticks for the customer: marks their message (and earlier ones) read."""
        await self._post_messages({"messaging_product": "whatsapp", "status": "read", "message_id": wamid}, from_id)

    async def typing_indicator(self, wamid: str, from_id: str | None = None) -> None:
        """ "typing…" on the customer's phone (dismissed by our reply or after 25 s); it also
        marks their message `wamid` (and earlier ones) read."""
        payload = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        await self._post_messages({**payload, "typing_indicator": {"type": "text"}}, from_id)

    async def _post_messages(self, payload: dict[str, Any], from_id: str | None = None) -> dict[str, Any]:
        if not self.configured:
            raise self._missing()
        url = f"{self._base}/{from_id or self._phone_number_id}/messages"
        return await self._retrying(lambda: self._post_once(url, payload), "send")

    async def _retrying(self, once: Callable[[], Awaitable[dict[str, Any]]], what: str) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return await once()
            except SendError as exc:
                if not exc.retryable or attempt >= len(self._retry_delays):
                    raise
                delay = self._retry_delays[attempt]
                attempt += 1
                log.warning("%s attempt %d failed (%s); retrying in %.1fs", what, attempt, exc, delay)
                await asyncio.sleep(delay)

    async def _post_once(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", url, json=payload)

    async def _request(self, method: str, url: str, safe_to_retry: bool = False, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, url, headers=self._auth(), **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: safe to retry.
            err = error_object(None, "Network error", f"{type(exc).__name__}: {exc}")
            err["message"] = "WhatsApp could not be reached (network error); the message was retried and still failed."
            raise SendError(err, retryable=True) from exc
        except httpx.HTTPError as exc:
            err = error_object(None, "Network error", f"{type(exc).__name__}: {exc}")
            if safe_to_retry:  # a read or an upload: repeating it harms nobody
                raise SendError(err, retryable=True) from exc
            # Sent, but no answer: Meta may have accepted it, and a retry could reach the
            # customer twice. Report it and let the agent decide.
            raise SendError(uncertain_error(f"no answer: {type(exc).__name__}"), retryable=False) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code < 400 and isinstance(data, dict):
            return data
        if response.status_code < 400:  # accepted, but we cannot tell what: maybe sent
            raise SendError(uncertain_error(f"HTTP {response.status_code} without a JSON answer"), retryable=False)
        raise _error_from(response, data)


def _wamid(data: dict[str, Any]) -> str:
    try:
        return str(data["messages"][0]["id"])
    except (KeyError, IndexError, TypeError):
        raise SendError(uncertain_error("its answer held no message id"), False) from None


def _error_from(response: httpx.Response, data: Any = None) -> SendError:
    """The SendError for a Graph API answer with an error status."""
    if data is None:
        try:
            data = response.json()
        except ValueError:
            data = None
    meta = data.get("error") if isinstance(data, dict) else None
    if isinstance(meta, dict):
        details = (meta.get("error_data") or {}).get("details") if isinstance(meta.get("error_data"), dict) else None
        err = error_object(meta.get("code"), meta.get("message") or meta.get("type"), details)
    else:
        err = error_object(None, f"HTTP {response.status_code}", response.text[:200] or None)
    if response.status_code == 401 and err["code"] is None:
        err = error_object(190, err["title"], err["detail"])
    retryable = (err["code"] in RETRYABLE_CODES) or response.status_code >= 500 or response.status_code == 429
    return SendError(err, retryable=retryable, http_status=response.status_code)
