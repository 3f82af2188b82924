"""Phone numbers: what people type, what Meta sends, and how the two are matched."""

from __future__ import annotations

import pytest

from server.phones import InvalidPhone, from_wa_id, lookup_keys, match_key, normalize, to_wa_id


@pytest.mark.parametrize(
    "typed",
    [
        "+255712345678",
        "+255 712 345 678",
        "+255-712-345-678",
        " +255 (712) 345678 ",
        "255712345678",  # a wa_id: country code without the plus
    ],
)
def test_normalize_international_without_region(typed: str) -> None:
    assert normalize(typed) == "+255712345678"


@pytest.mark.parametrize("typed", ["0712345678", "0712 345 678", "712345678", "+255712345678", "255712345678"])
def test_normalize_local_with_default_region(typed: str) -> None:
    assert normalize(typed, "TZ") == "+255712345678"
    assert normalize(typed, "tz") == "+255712345678"  # the region is case-insensitive


def test_a_wa_id_is_not_read_as_a_local_number_of_the_default_region() -> None:
    assert normalize("447911123456", "TZ") == "+447911123456"
    assert normalize("12025550123", "US") == "+12025550123"
    assert normalize("2025550123", "US") == "+12025550123"


def test_eleven_digit_local_mobiles_use_the_default_region() -> None:
    # Brazilian (area code + 9-digit mobile) and Chinese mobiles have 11 digits without the
    # country code; they must not be taken for a wa_id of some other country.
    assert normalize("11987654321", "BR") == "+5511987654321"
    assert normalize("13812345678", "CN") == "+8613812345678"


def test_missing_country_code_says_what_the_agent_can_do(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="server.phones"), pytest.raises(InvalidPhone) as exc:
        normalize("0712345678")
    # The agent reads this in the dashboard: what to type, not a server setting.
    assert "type the number with its country code, e.g. +255" in str(exc.value)
    assert "DEFAULT_REGION" not in str(exc.value)
    # The operator reads the setting in the log.
    assert "set DEFAULT_REGION" in caplog.text


@pytest.mark.parametrize(
    "raw,region,words",
    [
        ("", "", "empty"),
        ("   ", "TZ", "empty"),
        ("abc", "", "not a phone number"),
        ("abc", "TZ", "not a phone number"),
        ("+255 12", "", "too short"),
        ("+255 712", "TZ", "too short"),
        ("+255 7123 4567 8901", "TZ", "too long"),
        ("0712 ABC 678", "TZ", "letters"),
        ("+999 123 456", "", "country code is unknown"),
    ],
)
def test_invalid_input_explains_itself(raw: str, region: str, words: str) -> None:
    with pytest.raises(InvalidPhone) as exc:
        normalize(raw, region)
    assert words in str(exc.value)
    if raw.strip():
        assert repr(raw) in str(exc.value)  # the message quotes what was typed


def test_invalid_phone_is_a_value_error() -> None:
    # Callers that only know ValueError (the CLI) still report it cleanly.
    assert issubclass(InvalidPhone, ValueError)


def test_wa_id_round_trip() -> None:
    assert from_wa_id("255712345678") == "+255712345678"
    assert from_wa_id("+255712345678") == "+255712345678"
    assert from_wa_id("") is None
    assert from_wa_id(None) is None
    assert to_wa_id("+255712345678") == "255712345678"
    assert to_wa_id(from_wa_id("5511987654321")) == "5511987654321"


def test_brazilian_mobile_with_and_without_the_ninth_digit_match() -> None:
    with_nine = normalize("+55 11 98765-4321")
    assert with_nine == "+5511987654321"
    # Meta often sends Brazilian mobiles without the 9th digit; such a number is still accepted.
    without_nine = normalize("551187654321")
    assert without_nine == "+551187654321"
    assert normalize("+55 11 8765-4321") == "+551187654321"
    assert match_key(with_nine) == match_key(without_nine) == "+5511987654321"
    # Either way round: the key of the old form is the new form, the new form keeps itself.
    assert match_key(from_wa_id("551187654321")) == "+5511987654321"
    assert match_key("+5511987654321") == "+5511987654321"


def test_brazilian_landlines_and_other_countries_are_unchanged() -> None:
    assert match_key("+551133334444") == "+551133334444"  # landline: starts with 3, no 9 to add
    assert match_key("+255712345678") == "+255712345678"
    assert match_key("+12025550123") == "+12025550123"
    assert match_key("+447911123456") == "+447911123456"
    # 12 digits starting 55 6-9, but not Brazil: +556 ... does not exist, +255 is Tanzania.
    assert match_key("+255987654321") == "+255987654321"
    assert normalize("+551133334444") == "+551133334444"


@pytest.mark.parametrize(
    "typed,region,e164",
    [
        ("255123456789", "TZ", "+255123456789"),  # the seed's example: unallocated, yet possible
        ("255123456789", "", "+255123456789"),
        ("+447700900123", "TZ", "+447700900123"),  # a range kept for drama, delivered by Meta
        ("447700900123", "TZ", "+447700900123"),
        ("0044 7911 123456", "TZ", "+447911123456"),
    ],
)
def test_numbers_the_library_does_not_know_are_accepted_when_their_length_fits(
    typed: str, region: str, e164: str
) -> None:
    assert normalize(typed, region) == e164


def test_argentinian_mobiles_match_however_they_are_written() -> None:
    meta = from_wa_id("5491123456789")  # what Meta sends: 54, the mobile 9, area code, number
    typed = [
        normalize("+54 9 11 2345-6789"),
        normalize("+54 11 15 2345-6789"),  # the local 15 mobile prefix
        normalize("011 15 2345-6789", "AR"),
        normalize("+54 11 2345-6789"),  # without the 9
    ]
    assert {match_key(n) for n in typed} == {match_key(meta)} == {"+5491123456789"}
    assert match_key("+5491123456789") == "+5491123456789"


def test_a_digit_string_is_looked_up_as_a_wa_id() -> None:
    assert lookup_keys("2557123456789") == ["+2557123456789"]
    assert lookup_keys("+55 11 8765-4321") == ["+5511987654321"]
    assert lookup_keys("0712345678") == [] and lookup_keys("abc") == [] and lookup_keys("") == []
