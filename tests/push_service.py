"""A push service stand-in of our own (what FCM, Mozilla's autopush or Apple's service are to
a browser), for the Web Push tests: a real HTTP server on loopback that records every push
it receives and answers as told per subscription, and a browser's side of a subscription
(its keys) that can decrypt what arrives, written from RFC 8291 and RFC 8188 directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import free_port, serve


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    token: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushServiceStandIn:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # token -> status (default 201)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)  # token -> answer once set
    arrived: dict[str, asyncio.Event] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def push(request: Request) -> Response:
            token = request.path_params["token"]
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.received.append(Received(token, headers, await request.body()))
            self.arrived.setdefault(token, asyncio.Event()).set()
            if token in self.hold:
                await self.hold[token].wait()
            return Response(status_code=self.answers.get(token, 201))

        return Starlette(routes=[Route("/push/{token}", push, methods=["POST"])])

    def for_token(self, token: str) -> list[Received]:
        return [r for r in self.received if r.token == token]


@contextlib.asynccontextmanager
async def push_service() -> AsyncIterator[PushServiceStandIn]:
    standin = PushServiceStandIn()
    port = free_port()
    standin.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(standin.app(), host="127.0.0.1", port=port, ws="none", log_level="warning")
    async with serve(config, uvicorn.Server):
        yield standin


class BrowserSubscription:
    """What a browser keeps for one push subscription: an ECDH key pair and an auth secret."""

    def __init__(self, service_url: str) -> None:
        self.token = uuid.uuid4().hex
        self.endpoint = f"{service_url}/push/{self.token}"
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.auth = os.urandom(16)

    def to_json(self) -> dict[str, Any]:
        """As PushSubscription.toJSON() gives it."""
        keys = {"p256dh": b64url(self.public), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}

    def decrypt(self, body: bytes) -> Any:
        """RFC 8291 section 3.4 and RFC 8188 section 2: one aes128gcm record."""
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender_public = body[21 : 21 + idlen]
        ciphertext = body[21 + idlen :]
        assert idlen == 65 and len(ciphertext) <= rs, (idlen, rs, len(ciphertext))
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
        ecdh_secret = self.private_key.exchange(ec.ECDH(), sender)

        def hmac256(key: bytes, data: bytes) -> bytes:
            return hmac.new(key, data, hashlib.sha256).digest()

        prk_key = hmac256(self.auth, ecdh_secret)
        ikm = hmac256(prk_key, b"WebPush: info\x00" + self.public + sender_public + b"\x01")
        prk = hmac256(salt, ikm)
        cek = hmac256(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = hmac256(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        data = padded.rstrip(b"\x00")
        assert data.endswith(b"\x02"), "the last record ends with the 0x02 delimiter"
        return json.loads(data[:-1])


def verify_vapid(authorization: str, expected_key: str) -> dict[str, Any]:
    """RFC 8292: `vapid t=<JWT>, k=<public key>`; the JWT is ES256 over the key. Returns the claims."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == expected_key
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = unb64url(signature_b64)
    assert len(signature) == 64
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    return json.loads(unb64url(claims_b64))
