"""Phone numbers in one normal form (E.164), and the key two numbers are matched by.

Meta's `wa_id` is E.164 without the `+`; people type invitations as `+255 712 345 678` or
`0712345678` (with DEFAULT_REGION). Brazilian mobiles are the one known mismatch: Meta
sends many of them without the 9th digit, so the match key restores it.
"""

from __future__ import annotations

import logging

import phonenumbers

log = logging.getLogger(__name__)


class InvalidPhone(ValueError):
    """The text is not a phone number we can reach; the message says why."""


def normalize(raw: str, default_region: str = "") -> str:
    """A typed number in E.164, or InvalidPhone with a sentence a person understands."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("phone number is empty")
    region = (default_region or "").upper() or None
    if not any(ch.isdigit() for ch in text):
        raise InvalidPhone(f"{raw!r} is not a phone number")
    if not text.startswith("+") and text.isdigit() and len(text) > 10 and not text.startswith("0"):
        # Looks like a wa_id (country code, no plus): parse it as international, unless that
        # is not a valid number and the default region reads it as a local one (Brazilian
        # and Chinese mobiles have 11 digits without the country code).
        try:
            international = phonenumbers.parse("+" + text, None)
        except phonenumbers.NumberParseException:
            international = None
        if international is not None:
            e164 = phonenumbers.format_number(international, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(international) or _is_old_brazil_mobile(e164) or region is None:
                text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if region is None and not text.startswith("+"):
            # The agent can fix the number; the setting is the operator's business, so it goes
            # to the log, not into the message the dashboard shows.
            log.info("refused a number without a country code; set DEFAULT_REGION (e.g. TZ) to read them as local")
            raise InvalidPhone(
                f"{raw!r} has no country code: type the number with its country code, e.g. +255 712 345 678"
            ) from exc
        raise InvalidPhone(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if _is_old_brazil_mobile(e164):
            return e164
        raise InvalidPhone(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def from_wa_id(wa_id: str | None) -> str | None:
    """Meta's wa_id (digits) as E.164; None when Meta sent no number."""
    digits = "".join(ch for ch in (wa_id or "") if ch.isdigit())
    return "+" + digits if digits else None


def to_wa_id(e164: str) -> str:
    """The `to` field of the Cloud API: digits only."""
    return e164.lstrip("+")


def _is_old_brazil_mobile(e164: str) -> bool:
    # +55, two-digit area code, then an 8-digit mobile number (starts 6-9) missing its leading 9.
    return e164.startswith("+55") and len(e164) == 13 and e164[5] in "6789"


def match_key(e164: str) -> str:
    """The form two numbers are compared in: E.164, Brazilian mobiles with their 9th digit."""
    if _is_old_brazil_mobile(e164):
        return e164[:5] + "9" + e164[5:]
    return e164
