"""The server's VAPID key pair (RFC 8292): push services know this server by its public key,
and every push carries a token signed with the private one.

The pair is made once, the first time the server starts (or `python -m server vapid-keys`
runs), and kept in the database (`vapid_keys`), so every process and every restart signs
with the same key: browsers subscribed with the public key keep receiving. Replacing it
would silently cut every device off, so nothing here ever does.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]

from .db import Database, Tx, now_ms

TOKEN_LIFETIME_S = 12 * 3600  # RFC 8292 allows at most 24 hours


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey
    public_key: str  # the uncompressed P-256 point, base64url: the browser's applicationServerKey

    def authorization(self, endpoint: str, subject: str, now: float | None = None) -> str:
        """The `Authorization: vapid t=…, k=…` header for a push to `endpoint`: a JWT for the
        push service's origin (aud), valid for 12 hours (exp), naming who to contact (sub)."""
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int((now if now is not None else time.time()) + TOKEN_LIFETIME_S),
            "sub": subject,
        }
        header: str = Vapid02(self.private_key).sign(claims)["Authorization"]
        return header


def _raw_private(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


def _from_raw(private_raw: str) -> VapidKeys:
    key = ec.derive_private_key(int.from_bytes(b64url_decode(private_raw), "big"), ec.SECP256R1())
    return VapidKeys(key, _public(key))


async def ensure_keys(db: Database) -> VapidKeys:
    """The stored pair, made now if there is none. Two processes starting at once agree: the
    first insert wins and both read it back."""
    row = await db.fetch_one("SELECT private_key FROM vapid_keys WHERE id = 1")
    if row is None:
        key = ec.generate_private_key(ec.SECP256R1())

        async def insert(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO vapid_keys (id, private_key, public_key, created_at) VALUES (1, :k, :p, :t)"
                " ON CONFLICT (id) DO NOTHING",
                k=_raw_private(key),
                p=_public(key),
                t=now_ms(),
            )

        await db.write(insert)
        row = await db.fetch_one("SELECT private_key FROM vapid_keys WHERE id = 1")
        assert row is not None
    return _from_raw(row["private_key"])
