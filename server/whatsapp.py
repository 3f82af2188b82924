"""The WhatsApp Cloud API client, and what Meta's error codes mean to an agent.

The base URL is a setting, so tests and the demo talk to the stand-in on loopback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Codes worth retrying: Meta's rate limits and transient server errors.
RETRYABLE_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131056}

_EXPLANATIONS = {
    131047: "More than 24 hours have passed since the customer last wrote: only an approved "
    "template can re-open the conversation.",
    130429: "WhatsApp's rate limit was hit (too many messages per second); the message was "
    "retried and still refused.",
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


@dataclass
class SendError(Exception):
    """Meta refused the call (or could not be reached); `error` is the stored error object."""

    error: dict[str, Any]
    retryable: bool
    http_status: int | None = None

    def __str__(self) -> str:
        return self.error["message"]


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

    @property
    def configured(self) -> bool:
        return bool(self._token and self._phone_number_id)

    def _missing(self) -> SendError:
        missing = [n for n, v in (("WHATSAPP_ACCESS_TOKEN", self._token),
                                  ("WHATSAPP_PHONE_NUMBER_ID", self._phone_number_id)) if not v]
        err = error_object(None, "Not configured", f"{' and '.join(missing)} not set")
        err["message"] = f"Sending is not configured: set {' and '.join(missing)}."
        return SendError(err, retryable=False)

    async def send_text(self, to: str, body: str, reply_to_wamid: str | None = None) -> str:
        """Send a text message; returns Meta's wamid. Retries transient failures."""
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": body, "preview_url": False},
        }
        if reply_to_wamid:
            payload["context"] = {"message_id": reply_to_wamid}
        data = await self._post_messages(payload)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise SendError(error_object(None, "Unexpected answer", f"no wamid in {data!r:.200}"), False) from None

    async def mark_read(self, wamid: str) -> None:
        """Blue ticks for the customer: marks their message (and earlier ones) read."""
        await self._post_messages({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})

    async def _post_messages(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.configured:
            raise self._missing()
        url = f"{self._base}/{self._phone_number_id}/messages"
        attempt = 0
        while True:
            try:
                return await self._post_once(url, payload)
            except SendError as exc:
                if not exc.retryable or attempt >= len(self._retry_delays):
                    raise
                delay = self._retry_delays[attempt]
                attempt += 1
                log.warning("send attempt %d failed (%s); retrying in %.1fs", attempt, exc, delay)
                await asyncio.sleep(delay)

    async def _post_once(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(
                url, json=payload, headers={"Authorization": f"Bearer {self._token}"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: safe to retry.
            err = error_object(None, "Network error", f"{type(exc).__name__}: {exc}")
            err["message"] = "WhatsApp could not be reached (network error); the message was retried and still failed."
            raise SendError(err, retryable=True) from exc
        except httpx.HTTPError as exc:
            # Sent, but no answer: Meta may have accepted it, and a retry could reach the
            # customer twice. Report it and let the agent decide.
            err = error_object(None, "Network error", f"{type(exc).__name__}: {exc}")
            err["message"] = ("WhatsApp did not answer (network error or timeout): the message may or may not "
                              "have reached the customer, so it was not sent again.")
            raise SendError(err, retryable=False) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code < 400 and isinstance(data, dict):
            return data
        meta = data.get("error") if isinstance(data, dict) else None
        if isinstance(meta, dict):
            code = meta.get("code")
            details = (meta.get("error_data") or {}).get("details") if isinstance(meta.get("error_data"), dict) else None
            err = error_object(code, meta.get("message") or meta.get("type"), details)
        else:
            code = None
            err = error_object(None, f"HTTP {response.status_code}", response.text[:200] or None)
        if response.status_code == 401 and err["code"] is None:
            err = error_object(190, err["title"], err["detail"])
        retryable = (err["code"] in RETRYABLE_CODES) or response.status_code >= 500 or response.status_code == 429
        raise SendError(err, retryable=retryable, http_status=response.status_code)
