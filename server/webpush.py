"""One Web Push message: encrypted for the browser (RFC 8291, `aes128gcm`), signed for the
push service (RFC 8292, VAPID), posted to the subscription's endpoint (RFC 8030).

Built from pywebpush's own building blocks, `http_ece` (the encryption) and `py_vapid` (the
token), posting with the httpx client the server already has: pywebpush itself would bring
`requests` and `aiohttp` for the one POST, and its synchronous `webpush()` would block the
event loop.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import http_ece  # type: ignore[import-untyped]
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from .vapid import VapidKeys, b64url_decode

log = logging.getLogger(__name__)

TTL_SECONDS = 3600  # a device offline for longer gets no stale "customer wrote" notices
MAX_PAYLOAD = 3000  # push services take 4096 bytes of ciphertext; the JSON stays well below


@dataclass(frozen=True)
class Target:
    endpoint: str
    p256dh: str  # the browser's P-256 public key, base64url
    auth: str  # the browser's 16-byte auth secret, base64url


def encrypt(payload: bytes, target: Target) -> bytes:
    """`payload` as one aes128gcm record, readable only with the subscription's private key."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=ephemeral,
        dh=b64url_decode(target.p256dh),
        auth_secret=b64url_decode(target.auth),
        version="aes128gcm",
    )
    return body


def encode(notification: dict[str, Any]) -> bytes:
    data = json.dumps(notification, ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) > MAX_PAYLOAD:
        trimmed = dict(notification, body=str(notification.get("body") or "")[:200])
        data = json.dumps(trimmed, ensure_ascii=False, separators=(",", ":")).encode()
    return data


async def send(
    client: httpx.AsyncClient,
    keys: VapidKeys,
    subject: str,
    target: Target,
    notification: dict[str, Any],
    topic: str | None = None,
    timeout: float = 10.0,
) -> int:
    """Posts one notification; returns the push service's HTTP status (201 accepted; 404 or 410:
    the subscription is gone). Network errors raise httpx.HTTPError."""
    headers = {
        "Authorization": keys.authorization(target.endpoint, subject),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_SECONDS),
        "Urgency": "high",
    }
    if topic:
        headers["Topic"] = topic  # a newer push for the same conversation replaces an undelivered one
    body = encrypt(encode(notification), target)
    response = await client.post(target.endpoint, content=body, headers=headers, timeout=timeout)
    return response.status_code
