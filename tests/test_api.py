"""The REST API as a user sees it: auth, who sees what, search and paging, invitations,
and bad input that must never become a 500."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.servers import PASSWORD, Agent, Stack, account, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every authenticated route, with a method it answers to.
AUTHENTICATED_ROUTES = [
    ("POST", "/api/auth/logout"),
    ("GET", "/api/me"),
    ("GET", "/api/conversations"),
    ("POST", "/api/conversations/send"),
    ("GET", "/api/conversations/1"),
    ("GET", "/api/conversations/1/messages"),
    ("POST", "/api/conversations/1/read"),
    ("GET", "/api/invitations"),
    ("POST", "/api/invitations"),
    ("POST", "/api/invitations/import"),
    ("GET", "/api/events"),
    ("GET", "/api/errors"),
]


def assert_json_error(r: httpx.Response, status: int | None = None, code: str | None = None) -> str:
    """A 4xx (or the given status) with a JSON `{"error": "...", "code": "..."}` body (the
    given code, if any); returns the message."""
    if status is not None:
        assert r.status_code == status, (r.status_code, r.text)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body["error"]


async def raw(inbox: Stack, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await inbox.http.request(method, f"{inbox.base_url}{path}", headers=headers, **kwargs)


async def invite(agent: Agent, phone: str, name: str = "Invited") -> dict[str, Any]:
    r = await agent.post("/api/invitations", {"name": name, "phoneNumber": phone})
    assert r.status_code == 201, r.text
    return r.json()


async def customer_conversation(
    inbox: Stack, owner: Agent | None, name: str = "Customer", text: str = "hello", **extra: Any
) -> dict[str, Any]:
    """A conversation a customer started, owned by `owner` (invited first) or unassigned."""
    phone = new_phone()
    if owner is not None:
        await invite(owner, phone)
    await inbox.customer_writes(phone.lstrip("+"), text, name=name, **extra)
    viewer = owner if owner is not None else await account(inbox, admin=True)
    conv = await viewer.conversation_with(phone)
    assert conv is not None
    return conv


# -- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "not-a-real-token"},
    ],
    ids=["none", "wrong", "empty", "basic", "no-scheme"],
)
async def test_every_route_needs_a_valid_token(inbox: Stack, headers: dict[str, str]) -> None:
    for method, path in AUTHENTICATED_ROUTES:
        r = await inbox.http.request(method, f"{inbox.base_url}{path}", headers=headers, json={})
        message = assert_json_error(r, 401, "unauthenticated")
        assert "token" in message.lower(), (method, path, message)


async def test_token_is_not_accepted_from_the_query_string_over_http(inbox: Stack) -> None:
    agent = await account(inbox)
    assert (await raw(inbox, "GET", "/api/me", agent.token)).status_code == 200
    r = await inbox.http.get(f"{inbox.base_url}/api/me", params={"token": agent.token})
    assert_json_error(r, 401, "unauthenticated")


async def test_login_right_and_wrong_password(inbox: Stack) -> None:
    agent = await inbox.user()
    url = f"{inbox.base_url}/api/auth/login"

    r = await inbox.http.post(url, json={"email": agent.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert isinstance(token, str) and len(token) >= 32 and token != agent.token
    me = await raw(inbox, "GET", "/api/me", token)
    assert me.status_code == 200 and me.json()["email"] == agent.email

    # The email is matched case-insensitively and trimmed.
    r = await inbox.http.post(url, json={"email": f"  {agent.email.upper()} ", "password": PASSWORD})
    assert r.status_code == 200, r.text

    wrong = await inbox.http.post(url, json={"email": agent.email, "password": PASSWORD + "x"})
    unknown = await inbox.http.post(url, json={"email": "nobody-" + agent.email, "password": PASSWORD})
    # Same answer for a wrong password and an unknown account: nothing to learn from it.
    assert assert_json_error(wrong, 401, "wrong_credentials") == assert_json_error(unknown, 401, "wrong_credentials")
    assert "token" not in wrong.json()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "someone@example.com"},
        {"password": PASSWORD},
        {"email": "", "password": PASSWORD},
        {"email": "someone@example.com", "password": ""},
        {"email": None, "password": None},
    ],
)
async def test_login_missing_fields(inbox: Stack, body: dict[str, Any]) -> None:
    r = await inbox.http.post(f"{inbox.base_url}/api/auth/login", json=body)
    assert_json_error(r, 422, "credentials_required")


async def test_logout_revokes_only_that_token(inbox: Stack) -> None:
    agent = await inbox.user()
    r = await inbox.http.post(f"{inbox.base_url}/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    second = r.json()["token"]

    r = await agent.post("/api/auth/logout")
    assert r.status_code == 200 and r.json() == {"ok": True}
    for method, path in [("GET", "/api/me"), ("GET", "/api/conversations"), ("POST", "/api/auth/logout")]:
        assert_json_error(await raw(inbox, method, path, agent.token), 401, "unauthenticated")
    # The user's other session is untouched.
    me = await raw(inbox, "GET", "/api/me", second)
    assert me.status_code == 200 and me.json()["id"] == agent.id


async def test_me(inbox: Stack) -> None:
    agent = await inbox.user()
    admin = await inbox.user(admin=True)
    r = await agent.get("/api/me")
    assert r.status_code == 200
    name = agent.email.split("@")[0]
    assert r.json() == {
        "id": agent.id,
        "email": agent.email,
        "isAdmin": False,
        "name": name,
        "role": "agent",
        "seesUnassigned": False,
    }
    r = await admin.get("/api/me")
    assert r.json()["isAdmin"] is True and r.json()["role"] == "admin" and r.json()["seesUnassigned"] is True


async def test_account_errors_are_for_admins_only(inbox: Stack) -> None:
    agent = await account(inbox)
    admin = await account(inbox, admin=True)
    assert_json_error(await agent.get("/api/errors"), 403, "admin_only")
    r = await admin.get("/api/errors")
    assert r.status_code == 200 and isinstance(r.json(), list)


# -- tenant isolation ----------------------------------------------------------------------


async def test_users_never_see_each_others_conversations(meta_reset: Stack) -> None:
    inbox = meta_reset
    a, b, admin = await account(inbox), await account(inbox), await account(inbox, admin=True)
    conv_a = await customer_conversation(inbox, a, name="Alice Customer", text="for A")
    conv_b = await customer_conversation(inbox, b, name="Bob Customer", text="for B")
    assert conv_a["ownerId"] == a.id and conv_b["ownerId"] == b.id
    unassigned = await customer_conversation(inbox, None, name="Nobody's", text="for nobody")
    assert unassigned["ownerId"] is None

    ids_a = {c["id"] for c in await a.conversations(limit=500)}
    ids_b = {c["id"] for c in await b.conversations(limit=500)}
    ids_admin = {c["id"] for c in await admin.conversations(limit=500)}
    assert ids_a == {conv_a["id"]}
    assert ids_b == {conv_b["id"]}
    assert {conv_a["id"], conv_b["id"], unassigned["id"]} <= ids_admin
    # Search does not reach across accounts either.
    assert await a.conversations(search=conv_b["phoneNumber"].lstrip("+")) == []
    assert await a.conversations(search="for B") == []
    assert await a.conversations(search="Bob Customer") == []

    before = len(await inbox.meta_requests())
    for conv in (conv_b, unassigned):
        for r in (
            await a.get(f"/api/conversations/{conv['id']}"),
            await a.get(f"/api/conversations/{conv['id']}/messages"),
            await a.post(f"/api/conversations/{conv['id']}/read"),
            await a.send(conversationId=conv["id"], content="sneaky"),
        ):
            assert_json_error(r, 404, "conversation_not_found")
    # Nothing reached WhatsApp: no message sent, no blue ticks given.
    assert len(await inbox.meta_requests()) == before
    # B's conversation is untouched: still unread, no message from A.
    conv_b_now = (await b.get(f"/api/conversations/{conv_b['id']}")).json()
    assert conv_b_now["unreadCount"] == 1
    assert [m["content"] for m in await b.messages(conv_b["id"])] == ["for B"]

    # The owner and an admin do see them.
    assert (await b.get(f"/api/conversations/{conv_b['id']}")).json()["id"] == conv_b["id"]
    for conv in (conv_a, conv_b, unassigned):
        r = await admin.get(f"/api/conversations/{conv['id']}/messages")
        assert r.status_code == 200 and len(r.json()) == 1


async def test_sending_to_a_number_of_another_account_is_forbidden(meta_reset: Stack) -> None:
    inbox = meta_reset
    a, b = await account(inbox), await account(inbox)
    invited_by_b = new_phone()
    await invite(b, invited_by_b)
    conv_b = await customer_conversation(inbox, b)

    # The same answer for both, naming nobody (issue 10: agents learn nothing of others' numbers).
    r = await a.send(phoneNumber=invited_by_b, content="hi")
    first = assert_json_error(r, 403, "not_assigned_to_you")
    assert "not assigned to you" in first and "another" not in first
    r = await a.send(phoneNumber=conv_b["phoneNumber"], content="hi")
    assert "not assigned to you" in assert_json_error(r, 403, "not_assigned_to_you")
    assert await inbox.meta_requests() == []
    assert await a.conversations() == []
    # B's invitation still gives B the conversation once the customer writes.
    await inbox.customer_writes(invited_by_b.lstrip("+"), "hello B")
    conv = await b.conversation_with(invited_by_b)
    assert conv is not None and conv["ownerId"] == b.id


async def test_a_reused_idempotency_key_never_reveals_another_accounts_message(meta_reset: Stack) -> None:
    inbox = meta_reset
    a, b = await account(inbox), await account(inbox)
    key = uuid.uuid4().hex
    r = await a.send(phoneNumber=new_phone(), content="secret for A's customer", clientId=key)
    assert r.status_code == 201, r.text
    r = await b.send(phoneNumber=new_phone(), content="B's message", clientId=key)
    message = assert_json_error(r, 409, "client_id_used")
    assert "secret" not in r.text and "clientId" in message


# -- conversation list: search and paging --------------------------------------------------


async def test_search_by_name_phone_digits_and_message_text(inbox: Stack) -> None:
    agent = await account(inbox)
    tag = uuid.uuid4().hex[:8]
    by_name = await customer_conversation(inbox, agent, name=f"Mwanaisha {tag}", text="habari")
    by_text = await customer_conversation(inbox, agent, name="Juma", text=f"order number ZX{tag} please")
    other = await customer_conversation(inbox, agent, name="Other", text="unrelated")

    async def found(search: str) -> list[int]:
        return [c["id"] for c in await agent.conversations(search=search)]

    assert await found(f"mwanaisha {tag.upper()}") == [by_name["id"]]  # case-insensitive
    assert await found(f"zx{tag}") == [by_text["id"]]
    phone = other["phoneNumber"]
    assert await found(phone.lstrip("+")) == [other["id"]]
    assert await found(phone[-7:]) == [other["id"]]  # a part of the number
    assert await found(phone) == [other["id"]]  # with the plus
    assert await found("no-such-thing-" + tag) == []
    # A search with LIKE wildcards finds nothing instead of everything.
    assert await found("%") == []
    assert await found("_") == []
    # No search: all three.
    assert set(await found("")) == {by_name["id"], by_text["id"], other["id"]}


async def test_conversations_newest_activity_first_and_paged_without_overlap(inbox: Stack) -> None:
    agent = await account(inbox)
    base = int(time.time()) - 3600
    # Created in an order that is not their activity order.
    minutes = [3, 0, 4, 1, 2]
    convs = {}
    for m in minutes:
        convs[m] = await customer_conversation(inbox, agent, text=f"at +{m} min", timestamp=base + m * 60)
    expected = [convs[m]["id"] for m in sorted(minutes, reverse=True)]

    listed = await agent.conversations()
    assert [c["id"] for c in listed] == expected

    pages, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if before is not None:
            params["before"] = before
        page = await agent.conversations(**params)
        if not page:
            break
        assert len(page) <= 2
        pages.append([c["id"] for c in page])
        before = page[-1]["id"]
        assert len(pages) < 10
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]

    # A customer writing again moves the conversation to the top.
    oldest = convs[0]
    await inbox.customer_writes(oldest["phoneNumber"].lstrip("+"), "back again")
    assert (await agent.conversations(limit=1))[0]["id"] == oldest["id"]


async def test_messages_paging_oldest_first(inbox: Stack) -> None:
    agent = await account(inbox)
    phone = new_phone()
    await invite(agent, phone)
    base = int(time.time()) - 600
    for i in range(5):
        await inbox.customer_writes(phone.lstrip("+"), f"message {i}", timestamp=base + i)
    conv = await agent.conversation_with(phone)
    everything = await agent.messages(conv["id"])
    assert [m["content"] for m in everything] == [f"message {i}" for i in range(5)]
    ids = [m["id"] for m in everything]
    assert ids == sorted(ids)

    # `limit` gives the newest ones, still oldest first; `before` pages back with no overlap.
    page1 = await agent.messages(conv["id"], limit=2)
    assert [m["id"] for m in page1] == ids[3:5]
    page2 = await agent.messages(conv["id"], limit=2, before=page1[0]["id"])
    assert [m["id"] for m in page2] == ids[1:3]
    page3 = await agent.messages(conv["id"], limit=2, before=page2[0]["id"])
    assert [m["id"] for m in page3] == ids[0:1]
    assert await agent.messages(conv["id"], limit=2, before=page3[0]["id"]) == []

    # `after` returns only newer messages, oldest first.
    assert [m["id"] for m in await agent.messages(conv["id"], after=ids[1])] == ids[2:]
    assert [m["id"] for m in await agent.messages(conv["id"], after=ids[1], limit=2)] == ids[2:4]
    assert await agent.messages(conv["id"], after=ids[-1]) == []
    await inbox.customer_writes(phone.lstrip("+"), "a new one")
    newer = await agent.messages(conv["id"], after=ids[-1])
    assert [m["content"] for m in newer] == ["a new one"]


async def test_conversation_detail(inbox: Stack) -> None:
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent, name="Detail Person", text="details please")
    r = await agent.get(f"/api/conversations/{conv['id']}")
    assert r.status_code == 200
    detail = r.json()
    # The invitation's name stays; the WhatsApp profile name is kept beside it.
    assert detail["id"] == conv["id"] and detail["contactName"] == "Invited"
    assert detail["profileName"] == "Detail Person"
    assert detail["lastMessage"]["content"] == "details please"
    assert detail["unreadCount"] == 1 and detail["hasInbound"] is True


# -- invitations ---------------------------------------------------------------------------


async def test_add_invitation_normalizes_the_number(inbox: Stack) -> None:
    agent = await account(inbox)
    phone = new_phone()  # +2557XXXXXXXX
    local = f"0{phone[4:7]} {phone[7:10]} {phone[10:]}"  # as a Tanzanian would type it
    r = await agent.post("/api/invitations", {"name": "  Neema  ", "phoneNumber": local})
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["phoneNumber"] == phone
    assert inv["name"] == "Neema" and inv["ownerId"] == agent.id and inv["createdAt"]
    assert [i["id"] for i in (await agent.get("/api/invitations")).json()] == [inv["id"]]


@pytest.mark.parametrize(
    "body,code,words",
    [
        ({"name": "X", "phoneNumber": "not a number"}, "invalid_phone", "not a phone number"),
        ({"name": "X", "phoneNumber": "+255 12"}, "invalid_phone", "not a valid phone number"),
        ({"name": "X", "phoneNumber": ""}, "invalid_phone", "empty"),
        ({"name": "X"}, "invalid_phone", "empty"),
        ({"name": "", "phoneNumber": "+255712345678"}, "name_required", "name"),
        ({"name": "   ", "phoneNumber": "+255712345678"}, "name_required", "name"),
        ({"name": ["X"], "phoneNumber": "+255712345678"}, "invalid_field", "name"),
        ({"name": "X", "phoneNumber": {"n": 1}}, "invalid_field", "phoneNumber"),
        ({"name": "X", "phoneNumber": True}, "invalid_field", "phoneNumber"),
    ],
)
async def test_invalid_invitation(inbox: Stack, body: dict[str, Any], code: str, words: str) -> None:
    agent = await account(inbox)
    r = await agent.post("/api/invitations", body)
    assert words in assert_json_error(r, 422, code)
    assert (await agent.get("/api/invitations")).json() == []


async def test_duplicate_invitation(inbox: Stack) -> None:
    a, b = await account(inbox), await account(inbox)
    phone = new_phone()
    await invite(a, phone)
    # The same number in any spelling, by the same account or another one.
    r = await a.post("/api/invitations", {"name": "Again", "phoneNumber": phone.lstrip("+")})
    assert "already invited by you" in assert_json_error(r, 409, "already_invited")
    r = await b.post("/api/invitations", {"name": "Mine", "phoneNumber": "0" + phone[4:]})
    message = assert_json_error(r, 409, "already_invited")
    # B is not told who serves the number (issue 10).
    assert "already invited" in message and "another" not in message and a.email not in message
    assert len((await a.get("/api/invitations")).json()) == 1
    assert (await b.get("/api/invitations")).json() == []


async def test_invitations_list_only_own_admin_all(inbox: Stack) -> None:
    a, b, admin = await account(inbox), await account(inbox), await account(inbox, admin=True)
    inv_a = await invite(a, new_phone(), "A's")
    inv_b = await invite(b, new_phone(), "B's")
    list_a = (await a.get("/api/invitations")).json()
    list_b = (await b.get("/api/invitations")).json()
    list_admin = (await admin.get("/api/invitations")).json()
    assert list_a == [inv_a]
    assert list_b == [inv_b]
    ids = [i["id"] for i in list_admin]
    assert inv_a["id"] in ids and inv_b["id"] in ids


async def test_csv_import_with_header(inbox: Stack) -> None:
    agent = await account(inbox)
    p1, p2, p3, taken = new_phone(), new_phone(), new_phone(), new_phone()
    await invite(agent, taken)
    text = (
        "Name,Phone Number\n"
        f"Asha,{p1}\n"
        "Bad Number,12ab\n"
        f'"Mussa, Jr.",0{p2[4:]}\n'  # quoted comma; local form
        "\n"  # blank lines are skipped
        "Only a name\n"
        f"Twice,{taken}\n"
        f",{p3}\n"
        f"Last,{p3.lstrip('+')}\n"
    )
    r = await inbox.http.post(
        f"{inbox.base_url}/api/invitations/import",
        content=text.encode(),
        headers={**agent.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["imported"] == 3
    errors = {e["line"]: e["error"] for e in result["errors"]}
    assert set(errors) == {3, 6, 7, 8}
    assert "phone number" in errors[3]
    assert errors[6] == "no phone number in the 'Phone Number' column"
    assert "already invited" in errors[7]
    assert "name" in errors[8]
    listed = {i["phoneNumber"]: i["name"] for i in (await agent.get("/api/invitations")).json()}
    assert listed == {taken: "Invited", p1: "Asha", p2: "Mussa, Jr.", p3: "Last"}


async def test_csv_import_without_header_and_as_upload(inbox: Stack) -> None:
    agent = await account(inbox)
    p1, p2, p3 = new_phone(), new_phone(), new_phone()
    body = f"\ufeffAsha,{p1}\r\nJuma,{p2}\r\n".encode()  # Excel: BOM and CRLF
    r = await inbox.http.post(
        f"{inbox.base_url}/api/invitations/import", content=body, headers={**agent.headers, "Content-Type": "text/csv"}
    )
    assert r.status_code == 200 and r.json() == {"imported": 2, "errors": []}, r.text

    r = await inbox.http.post(
        f"{inbox.base_url}/api/invitations/import",
        headers=agent.headers,
        files={"file": ("contacts.csv", f"name,phone\nNeema,{p3}\n".encode(), "text/csv")},
    )
    assert r.status_code == 200 and r.json() == {"imported": 1, "errors": []}, r.text
    names = sorted(i["name"] for i in (await agent.get("/api/invitations")).json())
    assert names == ["Asha", "Juma", "Neema"]

    # A form without the file field is refused clearly.
    r = await inbox.http.post(
        f"{inbox.base_url}/api/invitations/import",
        headers=agent.headers,
        files={"other": ("x.csv", b"a,b\n", "text/csv")},
    )
    assert_json_error(r, 422, "file_missing")


async def test_an_agent_cannot_obtain_a_conversation_by_inviting_its_number(inbox: Stack) -> None:
    """Issue 10: an invitation for the number of an unassigned conversation used to hand the
    agent the conversation and its whole history. Agents are refused, without being told
    whose it is; an admin's invitation still takes the conversation (admins assign anything)."""
    agent, other, admin = await account(inbox), await account(inbox), await account(inbox, admin=True)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "anyone there?", name="Early Bird")
    conv = await admin.conversation_with(phone)
    assert conv is not None and conv["ownerId"] is None
    assert await agent.conversation_with(phone) is None

    r = await agent.post("/api/invitations", {"name": "Mine now", "phoneNumber": phone})
    message = assert_json_error(r, 409)
    assert "ask an admin" in message and "another" not in message
    assert await agent.conversation_with(phone) is None
    assert_json_error(await agent.get(f"/api/conversations/{conv['id']}/messages"), 404)
    assert (await agent.get("/api/invitations")).json() == []
    # Sending to the number does not obtain it either, and says the same thing for every case.
    r = await agent.send(phoneNumber=phone, content="hi, it is mine now")
    assert "not assigned to you" in assert_json_error(r, 403)
    assert await agent.conversation_with(phone) is None
    assert [m["content"] for m in await admin.messages(conv["id"])] == ["anyone there?"]

    await invite(admin, phone)
    mine = await admin.conversation_with(phone)
    assert mine is not None and mine["id"] == conv["id"] and mine["ownerId"] == admin.id
    assert await other.conversation_with(phone) is None


async def test_invitation_of_a_brazilian_number_claims_the_conversation_without_the_ninth_digit(inbox: Stack) -> None:
    admin = await account(inbox, admin=True)
    eight = str(uuid.uuid4().int % 10**7).zfill(7)
    wa_id = "55118" + eight  # what Meta sends: no 9th digit
    await inbox.customer_writes(wa_id, "oi", name="Brasil")
    assert (await admin.conversation_with("+" + wa_id)) is not None
    inv = await invite(admin, f"+55 11 98{eight[:3]}-{eight[3:]}")
    assert inv["phoneNumber"] == "+55119" + "8" + eight
    conv = await admin.conversation_with("+" + wa_id)
    assert conv is not None and conv["ownerId"] == admin.id


# -- bad input -----------------------------------------------------------------------------


async def test_bad_bodies_are_json_4xx(inbox: Stack) -> None:
    agent = await account(inbox)
    h = {**agent.headers, "Content-Type": "application/json"}
    for path in ("/api/conversations/send", "/api/invitations", "/api/auth/login"):
        for content in (b"not json", b"{", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b"42"):
            r = await inbox.http.post(f"{inbox.base_url}{path}", content=content, headers=h)
            message = assert_json_error(r, 400, "invalid_json")
            assert "JSON" in message, (path, content, message)


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"phoneNumber": "+255712345678", "content": 123}, 422, "invalid_field"),
        ({"phoneNumber": "+255712345678", "content": ["a"]}, 422, "invalid_field"),
        ({"phoneNumber": ["+255712345678"], "content": "hi"}, 422, "invalid_field"),
        ({"phoneNumber": True, "content": "hi"}, 422, "invalid_field"),
        ({"conversationId": "abc", "content": "hi"}, 422, "invalid_field"),
        ({"conversationId": [1], "content": "hi"}, 422, "invalid_field"),
        ({"conversationId": {"id": 1}, "content": "hi"}, 422, "invalid_field"),
        ({"conversationId": True, "content": "hi"}, 422, "invalid_field"),
        ({"conversationId": 1.5, "content": "hi"}, 422, "invalid_field"),
        ({"conversationId": 10**30, "content": "hi"}, 404, "conversation_not_found"),
        ({"conversationId": "99999999999999999999999", "content": "hi"}, 404, "conversation_not_found"),
        ({"conversationId": -1, "content": "hi"}, 404, "conversation_not_found"),
        ({"content": "hi"}, 422, "recipient_required"),
        ({}, 422, "content_empty"),
    ],
)
async def test_send_with_wrong_types(inbox: Stack, body: dict[str, Any], status: int, code: str) -> None:
    agent = await account(inbox)
    assert_json_error(await agent.send(**body), status, code)


@pytest.mark.parametrize(
    "path,params,status",
    [
        ("/api/conversations", {"limit": "abc"}, 422),
        ("/api/conversations", {"limit": "1.5"}, 422),
        ("/api/conversations", {"before": "x"}, 422),
        ("/api/conversations", {"before": str(10**30)}, 422),
        ("/api/conversations/abc", {}, 404),
        ("/api/conversations/abc/messages", {}, 404),
        ("/api/conversations/-1/messages", {}, 404),
        ("/api/conversations/99999999999999999999999", {}, 404),
        ("/api/conversations/99999999999999999999999/messages", {}, 404),
        ("/api/events", {"since": "x"}, 422),
        ("/api/events", {"since": str(10**30)}, 422),
    ],
)
async def test_bad_query_and_path_values(inbox: Stack, path: str, params: dict[str, str], status: int) -> None:
    agent = await account(inbox)
    code = "invalid_parameter" if status == 422 else "conversation_not_found"
    assert_json_error(await agent.get(path, **params), status, code)


async def test_out_of_range_values_on_existing_conversations(inbox: Stack) -> None:
    agent = await account(inbox)
    conv = await customer_conversation(inbox, agent)
    for params in ({"before": str(10**30)}, {"after": str(-(10**30))}, {"limit": "abc"}):
        r = await agent.get(f"/api/conversations/{conv['id']}/messages", **params)
        assert_json_error(r, 422, "invalid_parameter")
    # Extreme but representable values just work.
    assert len(await agent.messages(conv["id"], limit=10**12)) == 1
    assert len(await agent.messages(conv["id"], limit=-5)) == 1
    assert await agent.messages(conv["id"], after=2**60) == []
    assert len(await agent.conversations(limit=10**12)) == 1
    assert await agent.conversations(before=-5) == []
    assert await agent.conversations(before=2**60) == []
    for path in ("/api/conversations/abc/read", "/api/conversations/99999999999999999999999/read"):
        assert_json_error(await agent.post(path), 404, "conversation_not_found")


async def test_csv_import_bad_bytes(inbox: Stack) -> None:
    agent = await account(inbox)
    h = {**agent.headers, "Content-Type": "text/csv"}
    url = f"{inbox.base_url}/api/invitations/import"
    # Not UTF-8: read as Windows-1252, so the row is reported for what it holds.
    r = await inbox.http.post(url, content=b"Asha,\xff\xfe\n", headers=h)
    assert r.status_code == 200 and r.json()["errors"] == [{"line": 1, "error": "'ÿþ' is not a phone number"}], r.text
    phone = new_phone()
    # A cell beyond the csv module's size limit is reported, the rows before it are kept.
    huge = "x" * 200_000
    r = await inbox.http.post(url, content=f'Asha,{phone}\n"{huge}",1\n'.encode(), headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1
    [error] = r.json()["errors"]
    assert error["line"] == 2 and "CSV" in error["error"]
    r = await inbox.http.post(url, content=b"", headers=h)
    assert r.status_code == 200 and r.json() == {"imported": 0, "errors": []}
    r = await inbox.http.post(
        url, content=b"--x\r\nbroken", headers={**agent.headers, "Content-Type": "multipart/form-data; boundary=x"}
    )
    assert_json_error(r)


async def test_nul_and_half_emoji_never_break_the_database(inbox: Stack) -> None:
    """JSON can carry a NUL or a lone surrogate (half an emoji) as a \\u escape; PostgreSQL
    text cannot hold a NUL, and neither database takes a lone surrogate."""
    agent = await account(inbox)
    h = {**agent.headers, "Content-Type": "application/json"}

    async def post(path: str, body: str) -> httpx.Response:
        return await inbox.http.post(f"{inbox.base_url}{path}", content=body.encode(), headers=h)

    phone = new_phone()
    r = await post(
        "/api/conversations/send",
        '{"phoneNumber": "%s", "content": "a\\u0000b \\ud83d!", "clientId": "k\\u0000%s"}' % (phone, uuid.uuid4().hex),
    )
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "ab \ufffd!"
    [stored] = await agent.messages(r.json()["conversationId"])
    assert stored["content"] == "ab \ufffd!"

    r = await post("/api/invitations", '{"phoneNumber": "%s", "name": "Ne\\u0000ema \\udc00"}' % new_phone())
    assert r.status_code == 201 and r.json()["name"] == "Neema \ufffd", r.text
    for email in ("a\\u0000b@example.com", "a\\ud800b@example.com"):
        r = await inbox.http.post(
            f"{inbox.base_url}/api/auth/login",
            content=('{"email": "%s", "password": "x"}' % email).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert_json_error(r, 401, "wrong_credentials")
    r = await agent.get("/api/conversations", search="a\x00b")
    assert r.status_code == 200 and [c["id"] for c in r.json()] == [stored["conversationId"]]
    r = await inbox.http.post(
        f"{inbox.base_url}/api/invitations/import",
        content=f"Ju\x00ma,{new_phone()}\n".encode(),
        headers={**agent.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200 and r.json() == {"imported": 1, "errors": []}, r.text
    assert "Juma" in [i["name"] for i in (await agent.get("/api/invitations")).json()]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/nope"),
        ("POST", "/api/nope"),
        ("GET", "/api/conversations/1/nope"),
        ("DELETE", "/api/me"),
        ("PUT", "/api/invitations"),
        ("GET", "/api/auth/login"),
        ("GET", "/api/"),
    ],
)
async def test_unknown_api_routes_are_json(inbox: Stack, method: str, path: str) -> None:
    agent = await account(inbox)
    r = await inbox.http.request(method, f"{inbox.base_url}{path}", headers=agent.headers)
    assert r.status_code in (404, 405), r.text
    assert_json_error(r, code="no_route" if r.status_code == 404 else "method_not_allowed")


async def test_csv_import_detects_encoding_delimiter_and_columns(inbox: Stack) -> None:
    agent = await account(inbox)
    url = f"{inbox.base_url}/api/invitations/import"
    h = {**agent.headers, "Content-Type": "text/csv"}
    p1, p2, p3, p4, p5 = (new_phone() for _ in range(5))
    files = [
        # Excel on a French or German system: Windows-1252, semicolons, phone first.
        (f"Mobile;Full Name\r\n{p1};Zoë Ndege – café\r\n".encode("cp1252"), {p1: "Zoë Ndege – café"}),
        # Tabs, UTF-16 with a BOM (Excel's "Unicode text"), first and last name columns.
        (f"First name\tLast name\tPhone number\n Baraka\tMushi\t{p2}\n".encode("utf-16"), {p2: "Baraka Mushi"}),
        # No header, the number first.
        (f"{p3},Neema\n".encode(), {p3: "Neema"}),
        # UTF-8 with a BOM, quoted cells holding the delimiter, WhatsApp header spelling.
        (f'\ufeff"whatsapp_number","contact name"\n"{p4}","Said, Jr."\n'.encode(), {p4: "Said, Jr."}),
        (f"phone|name\n{p5}|Pipe\n".encode(), {p5: "Pipe"}),
    ]
    for body, _ in files:
        r = await inbox.http.post(url, content=body, headers=h)
        assert r.status_code == 200 and r.json() == {"imported": 1, "errors": []}, (body, r.text)
    listed = {i["phoneNumber"]: i["name"] for i in (await agent.get("/api/invitations")).json()}
    for _, expected in files:
        assert expected.items() <= listed.items(), listed

    # A header without a phone column says what it found; a spreadsheet is not taken for text.
    r = await inbox.http.post(url, content=b"Name;Email\nAsha;asha@example.com\n", headers=h)
    [error] = r.json()["errors"]
    assert error == {"line": 1, "error": "no phone column in the header ('Name', 'Email'): name one 'phone'"}
    r = await inbox.http.post(url, content=b"PK\x03\x04\x14\x00\x00\x00", headers=h)
    assert "save it as CSV" in assert_json_error(r, 422)


async def test_a_number_without_country_code_tells_the_agent_what_to_type(tmp_path: Any) -> None:
    async with stack(f"sqlite:///{tmp_path}/noregion.db", default_region="") as s:
        agent = await s.user()
        r = await agent.send(phoneNumber="0712 345 678", content="hello")
        error = assert_json_error(r, 422)
        assert "type the number with its country code, e.g. +255" in error
        assert "DEFAULT_REGION" not in error
