"""Search gives the same conversations on SQLite and PostgreSQL for the same data: whole
names, fragments inside and across words, short terms, other alphabets, punctuation and
numbers (each database answers through its own indexes: server/search.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import DATABASES
from tests.servers import Agent, Stack, database_url, new_phone, stack

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        not {"sqlite", "postgresql"} <= set(DATABASES), reason="compares SQLite with PostgreSQL: needs both"
    ),
]

CUSTOMERS: list[tuple[str, list[str]]] = [
    ("Fofodu Tatavumu", ["hello there", "my order 5521 is late"]),
    ("Émile Zoë", ["Ça va? Très bien", "naïve café"]),
    ("ŞÜKRÜ Öztürk", ["merhaba", "iyi günler"]),
    ("Juma Hassan", ["tatavumu's brother", "email juma@example.com now"]),
    ("Mary-Jane O'Neil", ["50% off_sale today", "path C:\\temp\\file"]),
    ("Bado Kimalaru", ["xfofodu tatavumux", "ab", "order #A1B2"]),
    ("李小龙", ["你好世界", "数字 12345"]),
    ("Anna", ["ANNA-MARIA v1.2 release", "tatav"]),
    ("", ["zz top"]),
    ("Peter Pan", ["fofodu, tatavumu", "peter pan123 pan"]),
]

SEARCHES = [
    # whole names and phrases, any case
    "fofodu tatavumu",
    "FOFODU TATAVUMU",
    "émile zoë",
    "ÉMILE ZOË",
    "şükrü öztürk",
    "juma hassan",
    "李小龙",
    "peter pan",
    "hello there",
    "my order 5521 is late",
    "peter pan123 pan",
    # fragments, inside one word and across words
    "odu tatav",
    "du tatavu",
    "tatav",
    "umu",
    "mile z",
    "ükr",
    "ÜRK",
    "小龙",
    "世界",
    "café",
    "cafe",
    "ça va",
    "v1.2",
    "a1b2",
    "#a1b",
    "o'neil",
    "mary-jane",
    "jane o",
    "anna maria",
    "anna-maria v1",
    "fofodu, tatavumu",
    "fofodu  tatavumu",
    "tatavumu's",
    "pan123 pan",
    "x 1",
    # punctuation and wildcards of LIKE, GLOB and FTS5
    "50%",
    "%",
    "_",
    "off_s",
    "c:\\temp",
    "juma@ex",
    "example.com",
    '"',
    "*",
    "[a",
    # short terms
    "a",
    "zo",
    "é",
    "É",
    "ö",
    "ş",
    "李",
    "zz",
    "ab",
    "12",
    "1",
    "'",
    # numbers
    "5521",
    "order 55",
    "+255 7",
    "(255) 7",
    "12345",
]


async def fill(inbox: Stack, phones: list[str], base: int) -> Agent:
    at = base
    for (name, texts), phone in zip(CUSTOMERS, phones, strict=True):
        for text in texts:
            at += 1
            await inbox.customer_writes(phone.lstrip("+"), text, name=name, timestamp=at)
    return await inbox.user(admin=True)


async def found(agent: Agent, search: str) -> list[str]:
    return [c["phoneNumber"] for c in await agent.conversations(search=search, limit=500)]


async def test_same_searches_find_the_same_conversations_on_both_databases(tmp_path: Any) -> None:
    phones = [new_phone() for _ in CUSTOMERS]
    base = int(time.time()) - 3600
    results: dict[str, dict[str, list[str]]] = {}
    for kind in ("sqlite", "postgresql"):
        async with database_url(kind, tmp_path) as url, stack(url) as inbox:
            admin = await fill(inbox, phones, base)
            assert len(await found(admin, "")) == len(CUSTOMERS)
            results[kind] = {search: await found(admin, search) for search in SEARCHES + phones}
            # Whatever a search matched, the full phone number finds (the digits of the
            # whole number, with or without the plus, and a part of it).
            results[kind]["phone parts"] = [
                p for p in phones if await found(admin, p[-7:]) == [p] and await found(admin, p.lstrip("+")) == [p]
            ]

    differences = {s: (results["sqlite"][s], results["postgresql"][s]) for s in results["sqlite"]}
    differences = {s: pair for s, pair in differences.items() if pair[0] != pair[1]}
    assert differences == {}

    # And the answers are the right ones, not just equal.
    got = results["sqlite"]
    by_name = {name: phone for (name, _), phone in zip(CUSTOMERS, phones, strict=True)}
    assert set(got["FOFODU TATAVUMU"]) == {by_name["Fofodu Tatavumu"], by_name["Bado Kimalaru"]}  # "xfofodu tatavumux"
    assert set(got["odu tatav"]) == {by_name["Fofodu Tatavumu"], by_name["Bado Kimalaru"]}
    tatav = ("Fofodu Tatavumu", "Juma Hassan", "Bado Kimalaru", "Anna", "Peter Pan")
    assert set(got["tatav"]) == {by_name[n] for n in tatav}
    assert got["ÉMILE ZOË"] == [by_name["Émile Zoë"]]
    assert got["ÜRK"] == [by_name["ŞÜKRÜ Öztürk"]]
    assert by_name["Émile Zoë"] in got["é"] and by_name["Émile Zoë"] in got["É"]
    assert got["ş"] == [by_name["ŞÜKRÜ Öztürk"]]
    assert got["小龙"] == [by_name["李小龙"]]
    assert got["%"] == [by_name["Mary-Jane O'Neil"]]
    assert got["off_s"] == [by_name["Mary-Jane O'Neil"]]
    assert got["peter pan123 pan"] == [by_name["Peter Pan"]]
    assert got["fofodu  tatavumu"] == [] and got["anna maria"] == [] and got["cafe"] == []
    assert got["phone parts"] == phones
