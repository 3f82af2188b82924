"""Settings come from the environment (and an optional `.env` file), read once into one object.

The app factory takes a `Settings`, so tests and the demo build apps with their own values
instead of patching globals.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import phonenumbers
from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite:///./data/chat.db"
DEFAULT_API_BASE = "https://graph.facebook.com/v21.0"


class SettingError(ValueError):
    """A setting has a value the server cannot use; the message is one line naming it."""

    def __init__(self, name: str, raw: str, expected: str) -> None:
        super().__init__(f"{name}={raw!r} is not valid: {expected}")
        self.name = name


class MissingSetting(RuntimeError):
    """A feature needs a setting that is not configured; the message names it."""

    def __init__(self, name: str, purpose: str) -> None:
        super().__init__(f"{name} is not set: it is needed {purpose}.")
        self.name = name


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_api_base: str = DEFAULT_API_BASE
    default_region: str = ""
    broadcast_url: str = "memory://"
    # Seconds to wait before each retry of a send that hit a network error, 5xx or rate limit.
    send_retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0)
    send_timeout: float = 15.0
    # Seconds the agent's send waits for WhatsApp's answer before answering with the stored
    # (pending) reply; the outcome then arrives as an event.
    send_wait: float = 1.0
    # Seconds a graceful shutdown waits for sends in flight (then they are marked uncertain).
    shutdown_send_wait: float = 20.0
    # How long the events table keeps events for websocket/polling resume.
    event_retention_hours: float = 24.0
    webhook_max_bytes: int = 10 * 1024 * 1024
    # Seconds a webhook's answer waits for its (already committed) body to be applied.
    webhook_apply_wait: float = 10.0
    # Statuses for wamids this server never sent are kept this long (Meta retries for 7 days).
    pending_status_retention_hours: float = 7 * 24.0
    # Largest JSON body the API reads (login included); counted while it streams in.
    api_max_bytes: int = 1024 * 1024
    # Login throttling (server/throttle.py) and password hashing (server/passwords.py).
    login_window_seconds: float = 300.0
    login_attempts_per_account: int = 10
    login_attempts_per_address: int = 30
    password_hash_workers: int = 2
    # Sessions (logins: the dashboard's cookie, or a bearer token from /api/auth/login) end
    # after this long without a request, and this long after the login (server/sessions.py).
    session_idle_minutes: float = 720.0
    session_max_age_hours: float = 7 * 24.0
    password_hash_queue: int = 16
    # Events a websocket may have waiting before it is told to resync and closed.
    ws_queue_size: int = 5000
    # Media: where downloaded/sent files are kept, and how inbound downloads are retried
    # (seconds before each retry; after the last one the media is marked unavailable).
    media_dir: str = "./data/media"
    media_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0)
    media_download_timeout: float = 120.0
    media_max_bytes: int = 100 * 1024 * 1024
    # Templates are listed from the WhatsApp Business Account (WABA) this id names.
    whatsapp_business_account_id: str = ""
    # Agents see (and may claim) the unassigned queue, not only their own conversations.
    agents_see_unassigned: bool = False
    # When customers get blue ticks: on_open, on_reply or never (server/receipts.py).
    read_receipts: str = "on_open"
    # Web Push (server/push.py): the contact push services see in the VAPID token (mailto: or
    # https:); empty: mailto: the first admin's address. PUSH_ALLOW_HTTP lets a subscription
    # name a plain-http push service (a stand-in on this machine, for tests), never the default.
    vapid_subject: str = ""
    push_allow_http: bool = False
    static_dir: str = field(default_factory=lambda: str(Path(__file__).resolve().parent.parent / "static"))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, env_file: str | None = ".env") -> Settings:
        """Environment variables win over the `.env` file, which wins over defaults."""
        values: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            values.update(read_env_file(Path(env_file)))
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.name.upper())
            if raw is None or raw == "":
                continue
            kwargs[f.name] = _parse(f.name.upper(), str(f.type), raw.strip())
        return cls(**kwargs)

    @property
    def phone_number_ids(self) -> list[str]:
        """WHATSAPP_PHONE_NUMBER_ID may list several business numbers, comma-separated; the
        first is the one new conversations start on."""
        return list(dict.fromkeys(p.strip() for p in self.whatsapp_phone_number_id.split(",") if p.strip()))

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def missing_for_meta(self) -> list[str]:
        """Names of the settings that talking to Meta needs and that are unset."""
        needed = {
            "WHATSAPP_APP_SECRET": self.whatsapp_app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token,
            "WHATSAPP_ACCESS_TOKEN": self.whatsapp_access_token,
            "WHATSAPP_PHONE_NUMBER_ID": self.whatsapp_phone_number_id,
        }
        return [name for name, value in needed.items() if not value]


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingError(name, raw, "expected true or false")


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines as python-dotenv reads them (`#` comments, quotes, `export`), taken
    literally: no `${VAR}` expansion, so a secret with a `$` in it stays as written."""
    return {key: value for key, value in dotenv_values(path, interpolate=False).items() if value is not None}


_SCHEMES = {
    "DATABASE_URL": (
        ("sqlite", "postgres", "postgresql"),
        "sqlite:///./data/chat.db or postgresql://user:password@host:5432/name",
    ),
    "BROADCAST_URL": (
        ("memory", "redis", "rediss", "postgres", "postgresql"),
        "memory://, redis://host:6379/0 or postgresql://…",
    ),
    "WHATSAPP_API_BASE": (("http", "https"), "an http(s) URL such as https://graph.facebook.com/v21.0"),
}


def _parse(name: str, kind: str, raw: str) -> object:
    """One setting's value from its text; a wrong one is a SettingError naming the variable."""
    if name in ("SEND_RETRY_DELAYS", "MEDIA_RETRY_DELAYS"):
        try:
            delays = tuple(float(x) for x in raw.split(",") if x.strip())
        except ValueError:
            raise SettingError(name, raw, "expected comma-separated seconds, e.g. 0.5,2,5") from None
        if any(d < 0 or d != d for d in delays):
            raise SettingError(name, raw, "delays are seconds, 0 or more")
        return delays
    if kind == "float":
        try:
            value = float(raw)
        except ValueError:
            raise SettingError(name, raw, "expected a number of seconds or hours, e.g. 15") from None
        if not value > 0 or value == float("inf"):
            raise SettingError(name, raw, "expected a number greater than 0")
        return value
    if kind == "bool":
        return parse_bool(name, raw)
    if kind == "int":
        try:
            number = int(raw)
        except ValueError:
            raise SettingError(name, raw, "expected a whole number, e.g. 5000") from None
        if number <= 0:
            raise SettingError(name, raw, "expected a whole number greater than 0")
        return number
    if name in _SCHEMES:
        schemes, example = _SCHEMES[name]
        scheme, sep, rest = raw.partition("://")
        if not sep or scheme.lower() not in schemes or (scheme.lower() != "memory" and not rest.strip("/")):
            raise SettingError(name, re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", raw), f"expected {example}")
    if name == "READ_RECEIPTS" and raw not in ("on_open", "on_reply", "never"):
        raise SettingError(name, raw, "expected on_open, on_reply or never")
    if name == "VAPID_SUBJECT" and not raw.startswith(("mailto:", "https://")):
        raise SettingError(name, raw, "expected mailto:you@example.com or an https:// URL")
    if name == "DEFAULT_REGION" and raw.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingError(name, raw, "expected a two-letter country code such as TZ, DE or US")
    return raw
