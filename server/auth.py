"""Accounts and bearer tokens.

Passwords use argon2 (slow on purpose, so it runs on its own bounded pool, server/passwords.py).
Tokens are random and stored as SHA-256 hashes: a fast hash is enough for 256-bit secrets.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .passwords import DEFAULT_POOL, HashPool, check_new_password

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown email as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")


@dataclass(frozen=True)
class User:
    """Who is calling. Who may see what is decided in server/visibility.py, from `is_admin`
    and `sees_unassigned` (the AGENTS_SEE_UNASSIGNED setting, copied in at sign-in)."""

    id: int
    email: str
    is_admin: bool
    name: str = ""
    sees_unassigned: bool = False

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "agent"

    @property
    def display_name(self) -> str:
        return display_name(self.name, self.email)


def display_name(name: str | None, email: str) -> str:
    """What people see: the name, else the part of the email before the @."""
    return (name or "").strip() or email.split("@", 1)[0]


async def hash_password(password: str, pool: HashPool = DEFAULT_POOL) -> str:
    """The hash to store for a new password; Invalid (422) if the password is too weak."""
    check_new_password(password)
    return await pool.run(lambda: _hasher.hash(password))


async def check_password(password_hash: str | None, password: str, pool: HashPool = DEFAULT_POOL) -> bool:
    """On `pool`, never the shared thread pool (server/passwords.py says why)."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await pool.run(verify)


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """Who a token is, sessions and expiry: server/sessions.py."""
    return hashlib.sha256(token.encode()).hexdigest()
