"""Meta's `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the app secret.

Both sides live here so the webhook check and the Meta stand-in can never drift apart.
"""

import hashlib
import hmac

PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta sends for `body`."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify(app_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the header against the raw bytes as received."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(app_secret, body), header.strip())
