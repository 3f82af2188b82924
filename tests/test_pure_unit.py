"""Pure parts in process: the webhook signature, the invitations file reader, and the search
fragments each database gets (the end-to-end behaviour is in test_api and test_search)."""

from __future__ import annotations

import pytest

from server import invitation_csv, search
from server.signature import sign, verify

# -- signature -------------------------------------------------------------------------------


def test_a_signature_is_over_the_exact_bytes() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = sign("s3cret", body)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify("s3cret", body, header) and verify("s3cret", body, header + " ")
    assert not verify("s3cret", body + b" ", header)
    assert not verify("other", body, header)
    assert not verify("s3cret", body, header.removeprefix("sha256="))
    assert not verify("s3cret", body, None)


# -- invitations file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"name,phone\nNeema Said,+255713000111\n",
        "\ufeffname;phone\r\nNeema Said;+255713000111\r\n".encode(),
        "name\tphone\nNeema Said\t+255713000111\n".encode("utf-16"),
        "name,phone\nNeema Said,+255713000111\n".encode("utf-16-le"),  # no BOM
    ],
)
def test_each_usual_encoding_and_delimiter_reads_the_same(raw: bytes) -> None:
    parsed = invitation_csv.parse(invitation_csv.decode(raw))
    assert parsed.rows == [(2, "Neema Said", "+255713000111")] and parsed.errors == []


def test_windows_1252_keeps_its_curly_quotes_and_accents() -> None:
    text = invitation_csv.decode("Name,Phone\nJos\u00e9 \u201cPepe\u201d,0713000111\n".encode("cp1252"))
    assert invitation_csv.parse(text).rows == [(2, "José “Pepe”", "0713000111")]


def test_a_spreadsheet_is_refused_with_what_to_do() -> None:
    with pytest.raises(invitation_csv.UnreadableFile, match="save it as CSV first"):
        invitation_csv.decode(b"PK\x03\x04 a zip archive")


def test_headers_in_other_languages_and_split_names() -> None:
    text = "Vorname;Nachname;Handy\nAmina;Juma;0713 000 111\n"
    assert invitation_csv.parse(text).rows == [(2, "Amina Juma", "0713 000 111")]


def test_without_a_header_the_number_is_found_in_either_column() -> None:
    parsed = invitation_csv.parse("+255713000111,Neema\nBaraka,0754123456\nonly-one-cell\n")
    assert parsed.rows == [(1, "Neema", "+255713000111"), (2, "Baraka", "0754123456")]
    assert parsed.errors == [{"line": 3, "error": "expected two columns: name, phone"}]


def test_rows_without_a_number_are_reported_by_line() -> None:
    parsed = invitation_csv.parse("name,phone\nNeema,+255713000111\nBaraka,\n")
    assert parsed.rows == [(2, "Neema", "+255713000111")]
    assert parsed.errors == [{"line": 3, "error": "no phone number in the 'phone' column"}]


def test_a_header_without_a_phone_column_stops_with_what_it_found() -> None:
    parsed = invitation_csv.parse("name,email\nNeema,neema@example.com\n")
    assert parsed.rows == []
    assert parsed.errors == [{"line": 1, "error": "no phone column in the header ('name', 'email'): name one 'phone'"}]


# -- search ----------------------------------------------------------------------------------


def test_sqlite_uses_the_trigram_index_from_three_characters_and_a_glob_below() -> None:
    sql, values = search.clause("sqlite", "Café")
    assert "MATCH :phrase" in sql and values == {"phrase": '"café"', "conv_match": 'name : "café"'}
    sql, values = search.clause("sqlite", "ab")
    assert "GLOB :glob" in sql and values == {"glob": "*[Aa][Bb]*"}


def test_a_number_also_searches_phone_numbers() -> None:
    _, values = search.clause("sqlite", "+255 713")
    assert values["conv_match"] == 'name : "+255 713" OR phone : "255713"'
    sql, values = search.clause("postgresql", "0713-000")
    assert "phone_number LIKE :qphone" in sql and values["qphone"] == "%0713000%"


def test_postgresql_narrows_several_words_with_the_word_index_and_escapes_like() -> None:
    sql, values = search.clause("postgresql", "order 100% ready")
    assert "to_tsquery" not in sql  # "100%" is not a plain word: trigrams only
    assert values == {"q": "%order 100\\% ready%"}
    sql, values = search.clause("postgresql", "your order is ready")
    assert values["tsquery"] == "order & is & ready:*" and values["q"] == "%your order is ready%"
