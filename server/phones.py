"""Phone numbers in one normal form (E.164), and the key two numbers are matched by.

Meta's `wa_id` is E.164 without the `+`; people type invitations as `+255 712 345 678` or
`0712345678` (with DEFAULT_REGION). A typed number is refused only when it cannot be a
phone number at all (letters, a length no number of its country has, no country code and
no DEFAULT_REGION): the phone-number library's list of allocated ranges lags behind
reality, and Meta, which knows who is on WhatsApp, decides the rest (131026 and friends).

Two countries write one mobile two ways, and the match key makes both forms one:
Brazilian mobiles (Meta sends many without the 9th digit) and Argentinian mobiles (Meta's
wa_id is `549…`, people type `+54 11 15 …` or `+54 11 …` without the 9).
"""

from __future__ import annotations

import logging

import phonenumbers
from phonenumbers import ValidationResult

# The library may not know a number's range, but it knows the lengths of every country.
_LENGTH_PROBLEMS = {
    ValidationResult.TOO_SHORT: "is too short",
    ValidationResult.TOO_LONG: "is too long",
    ValidationResult.INVALID_LENGTH: "has a length no number",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "is too short",
}

log = logging.getLogger(__name__)


class InvalidPhone(ValueError):
    """The text is not a phone number we can reach; the message says why."""


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _possible(number: phonenumbers.PhoneNumber | None) -> bool:
    return number is not None and phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE


def _valid(number: phonenumbers.PhoneNumber | None) -> bool:
    return number is not None and phonenumbers.is_valid_number(number)


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize(raw: str, default_region: str = "") -> str:
    """A typed number in E.164, or InvalidPhone with a sentence a person understands."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("phone number is empty")
    region = (default_region or "").upper() or None
    if not any(ch.isdigit() for ch in text):
        raise InvalidPhone(f"{raw!r} is not a phone number")
    if any(ch.isalpha() for ch in text):
        raise InvalidPhone(f"{raw!r} is not a phone number: it contains letters")
    digits = "".join(ch for ch in text if ch.isdigit())
    candidates: list[phonenumbers.PhoneNumber | None] = []
    if text.startswith("+") or text.startswith("00"):
        candidates.append(_parse("+" + digits.removeprefix("00") if text.startswith("00") else text, None))
    else:
        # Digits only may be a wa_id (country code, no plus) or a local number of the default
        # region (Brazilian and Chinese mobiles have 11 digits without the country code):
        # a reading the library knows wins, then one of a possible length.
        international = _parse("+" + digits, None) if not text.startswith("0") else None
        local = _parse(text, region) if region else None
        ranked = [international, local] if region is None or len(digits) > 10 else [local, international]
        candidates = [n for n in ranked if _valid(n)] + [n for n in ranked if not _valid(n)]
        if region is None and (international is None or text.startswith("0")):
            # The agent can fix the number; the setting is the operator's business, so it goes
            # to the log, not into the message the dashboard shows.
            log.info("refused a number without a country code; set DEFAULT_REGION (e.g. TZ) to read them as local")
            raise InvalidPhone(
                f"{raw!r} has no country code: type the number with its country code, e.g. +255 712 345 678"
            )
    for number in candidates:
        if _possible(number):
            assert number is not None
            return _e164(number)
    number = next((n for n in candidates if n is not None), None)
    if number is None:
        raise InvalidPhone(f"{raw!r} is not a phone number: the country code is unknown")
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        raise InvalidPhone(f"{raw!r} is not a phone number: the country code is unknown")
    problem = _LENGTH_PROBLEMS.get(reason, "is not a possible length")
    country = f"+{number.country_code}"
    if problem.startswith("has a length"):
        raise InvalidPhone(f"{raw!r} is not a valid phone number: it {problem} of {country} has")
    raise InvalidPhone(f"{raw!r} is not a valid phone number: it {problem} for {country}")


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


def _is_argentina_without_nine(e164: str) -> bool:
    # +54, then a 10-digit national number (area code + subscriber) without the mobile 9.
    # Argentina's mobile and fixed numbers share one ten-digit plan, so the 9 adds no ambiguity.
    return e164.startswith("+54") and len(e164) == 13 and e164[3] != "9"


def match_key(e164: str) -> str:
    """The form two numbers are compared in: E.164, Brazilian mobiles with their 9th digit,
    Argentinian numbers with the mobile 9 after the country code."""
    if _is_old_brazil_mobile(e164):
        return e164[:5] + "9" + e164[5:]
    if _is_argentina_without_nine(e164):
        return "+549" + e164[3:]
    return e164


def lookup_keys(raw: str) -> list[str]:
    """Match keys a typed number may have when it is already a customer's: the digits as a
    wa_id. A number Meta delivered from is a conversation's, whatever the library thinks."""
    text = (raw or "").strip()
    if not text or any(ch.isalpha() for ch in text):
        return []
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits or digits.startswith("0") and not text.startswith("+"):
        return []
    return [match_key("+" + digits)]
