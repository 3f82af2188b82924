"""The team inbox through the API and the websocket: users and roles, who sees what,
assignment and transfer, status and snooze, filters, notes and mentions, labels, history
lines, per-user unread and who wrote what (issues 14, 10 and 15)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.auth import hash_password
from server.db import now_ms
from tests.conftest import DATABASES
from tests.servers import PASSWORD, Agent, Stack, account, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def member(inbox: Stack, name: str, admin: bool = False, password_hash: str = "no password") -> Agent:
    """A named account with a token (the slow password login is tested separately)."""
    return await account(inbox, admin, name, password_hash)


async def request(agent: Agent, method: str, path: str, body: Any = None) -> Any:
    return await agent.stack.http.request(method, f"{agent.stack.base_url}{path}", json=body, headers=agent.headers)


async def conversation_for(inbox: Stack, owner: Agent | None, text: str = "hello", name: str = "Customer") -> int:
    """A customer conversation assigned to `owner` (by invitation) or unassigned."""
    phone = new_phone()
    if owner is not None:
        r = await owner.post("/api/invitations", {"name": name, "phoneNumber": phone})
        assert r.status_code == 201, r.text
    await inbox.customer_writes(phone.lstrip("+"), text, name=name)
    admin = await member(inbox, "Lookup", admin=True)
    conv = await admin.conversation_with(phone)
    assert conv is not None
    return conv["id"]


def ws(agent: Agent) -> Any:
    url = agent.stack.base_url.replace("http://", "ws://") + "/ws"
    return connect(url, additional_headers={"Authorization": f"Bearer {agent.token}"})


async def next_event(sock: ClientConnection, type_: str, where: Any = None, timeout: float = 5.0) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            event = json.loads(await sock.recv())
            if event["type"] == type_ and (where is None or where(event)):
                return event

    return await asyncio.wait_for(wait(), timeout)


async def drain(sock: ClientConnection, quiet: float = 0.4) -> list[dict[str, Any]]:
    events = []
    while True:
        try:
            events.append(json.loads(await asyncio.wait_for(sock.recv(), quiet)))
        except TimeoutError:
            return events


def error_of(r: Any, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"]
    return body["error"]


@pytest.fixture(scope="module", params=DATABASES)
async def queue_inbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A server where agents see the unassigned queue (AGENTS_SEE_UNASSIGNED=true)."""
    async with database_url(request.param, tmp_path_factory.mktemp("queue")) as url:
        async with stack(url, agents_see_unassigned=True) as s:
            yield s


# -- users and roles -----------------------------------------------------------------------


async def test_admin_manages_users_and_agents_cannot(inbox: Stack) -> None:
    admin, agent = await member(inbox, "Sam Boss", admin=True), await member(inbox, "Ana")
    email = f"neema-{uuid.uuid4().hex[:6]}@example.com"
    body = {"email": email, "name": "Neema", "password": PASSWORD, "role": "agent"}
    assert "admins" in error_of(await agent.post("/api/users", body), 403)
    r = await admin.post("/api/users", body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created == {"id": created["id"], "email": email, "name": "Neema", "role": "agent", "active": True}
    assert "already exists" in error_of(await admin.post("/api/users", body), 409)
    for bad, words in (
        ({**body, "email": "not-an-email"}, "email"),
        ({**body, "email": "x" + email, "password": "short"}, "8 characters"),
        ({**body, "email": "y" + email, "role": "boss"}, "role"),
    ):
        assert words in error_of(await admin.post("/api/users", bad), 422)

    # Everyone sees the team, with names.
    listed = (await agent.get("/api/users")).json()
    assert {"id": agent.id, "email": agent.email, "name": "Ana", "role": "agent", "active": True} in listed
    assert any(u["id"] == created["id"] and u["name"] == "Neema" for u in listed)

    # The new user logs in with the password the admin set.
    r = await inbox.http.post(f"{inbox.base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text

    # Agents change only their own name; admins change roles.
    r = await request(agent, "PATCH", f"/api/users/{agent.id}", {"name": "Ana Lima"})
    assert r.status_code == 200 and r.json()["name"] == "Ana Lima"
    assert (await agent.get("/api/me")).json()["name"] == "Ana Lima"
    error_of(await request(agent, "PATCH", f"/api/users/{agent.id}", {"role": "admin"}), 403)
    error_of(await request(agent, "PATCH", f"/api/users/{created['id']}", {"name": "x"}), 403)
    r = await request(admin, "PATCH", f"/api/users/{created['id']}", {"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    error_of(await request(admin, "PATCH", "/api/users/999999999", {"name": "x"}), 404)


async def test_own_password_change_needs_the_current_one(inbox: Stack) -> None:
    agent = await member(inbox, "Pat", password_hash=await hash_password(PASSWORD))
    new = "another long password"
    r = await request(agent, "PATCH", f"/api/users/{agent.id}", {"password": new})
    assert "currentPassword" in error_of(r, 422)
    r = await request(agent, "PATCH", f"/api/users/{agent.id}", {"password": new, "currentPassword": PASSWORD})
    assert r.status_code == 200, r.text
    login = f"{inbox.base_url}/api/auth/login"
    assert (await inbox.http.post(login, json={"email": agent.email, "password": PASSWORD})).status_code == 401
    assert (await inbox.http.post(login, json={"email": agent.email, "password": new})).status_code == 200


async def test_deactivation_signs_out_at_once_and_returns_conversations_to_the_queue(inbox: Stack) -> None:
    admin = await member(inbox, "Boss", admin=True)
    agent = await member(inbox, "Leaver", password_hash=await hash_password(PASSWORD))
    conv_id = await conversation_for(inbox, agent, "please help")
    async with ws(agent) as agent_ws, ws(admin) as admin_ws:
        await drain(agent_ws, 0.2)
        r = await request(admin, "PATCH", f"/api/users/{agent.id}", {"active": False})
        assert r.status_code == 200 and r.json()["active"] is False
        # The open websocket is closed with 4401 at once ...
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(agent_ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # ... and admins see the conversation go back to the queue.
        event = await next_event(
            admin_ws,
            "conversation.updated",
            lambda e: e["conversationId"] == conv_id and e["data"]["assigneeId"] is None,
        )
        assert event["data"]["ownerId"] is None
    error_of(await agent.get("/api/conversations"), 401)
    r = await inbox.http.post(f"{inbox.base_url}/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    error_of(r, 401)
    assert (await admin.get(f"/api/conversations/{conv_id}")).json()["assigneeId"] is None
    lines = [m for m in await admin.messages(conv_id) if m["type"] == "activity"]
    assert lines and "Leaver" in lines[-1]["content"] and lines[-1]["authorId"] == admin.id
    # The last admin cannot be removed.
    only_admins = [u for u in (await admin.get("/api/users")).json() if u["role"] == "admin" and u["active"]]
    if len(only_admins) == 1:
        assert "last" in error_of(await request(admin, "PATCH", f"/api/users/{admin.id}", {"active": False}), 422)
    # Reactivated: logs in again, with nothing assigned.
    assert (await request(admin, "PATCH", f"/api/users/{agent.id}", {"active": True})).json()["active"] is True
    r = await inbox.http.post(f"{inbox.base_url}/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert r.status_code == 200


# -- who sees what -------------------------------------------------------------------------


async def test_agents_do_not_see_the_queue_by_default(inbox: Stack) -> None:
    agent = await member(inbox, "Default")
    conv_id = await conversation_for(inbox, None)
    error_of(await agent.get(f"/api/conversations/{conv_id}"), 404)
    error_of(await agent.post(f"/api/conversations/{conv_id}/assign", {"userId": agent.id}), 404)
    assert conv_id not in {c["id"] for c in await agent.conversations(assignee="unassigned")}
    assert (await agent.get("/api/me")).json()["seesUnassigned"] is False


async def test_agents_see_and_claim_the_queue_when_allowed(queue_inbox: Stack) -> None:
    inbox = queue_inbox
    ana, ben = await member(inbox, "Ana"), await member(inbox, "Ben")
    theirs = await conversation_for(inbox, ben, "for ben")
    queued = await conversation_for(inbox, None, "anyone?")
    assert (await ana.get("/api/me")).json()["seesUnassigned"] is True
    mine = {c["id"] for c in await ana.conversations(limit=500)}
    assert queued in mine and theirs not in mine
    assert [m["content"] for m in await ana.messages(queued)] == ["anyone?"]
    error_of(await ana.get(f"/api/conversations/{theirs}"), 404)
    # Claiming for someone else, or taking Ben's, is not an agent's to do.
    error_of(await ana.post(f"/api/conversations/{queued}/assign", {"userId": ben.id}), 403)
    error_of(await ana.post(f"/api/conversations/{theirs}/assign", {"userId": ana.id}), 404)
    async with ws(ben) as ben_ws:
        await drain(ben_ws, 0.2)
        r = await ana.post(f"/api/conversations/{queued}/assign", {"userId": ana.id})
        assert r.status_code == 200 and r.json()["assigneeId"] == ana.id, r.text
        # Ben saw it in the queue; now it is Ana's and leaves his list.
        removed = await next_event(ben_ws, "conversation.removed", lambda e: e["conversationId"] == queued)
        assert removed["data"] == {"conversationId": queued}
    error_of(await ben.get(f"/api/conversations/{queued}"), 404)
    lines = [m["content"] for m in await ana.messages(queued) if m["type"] == "activity"]
    assert lines == ["Ana took this"]


# -- assignment ----------------------------------------------------------------------------


async def test_transfer_moves_the_conversation_between_dashboards(inbox: Stack) -> None:
    admin = await member(inbox, "Sam", admin=True)
    ana, ben = await member(inbox, "Ana"), await member(inbox, "Ben")
    conv_id = await conversation_for(inbox, ana, "my order?")
    # Agents cannot take what is not theirs, nor give it to nobody.
    error_of(await ben.post(f"/api/conversations/{conv_id}/assign", {"userId": ben.id}), 404)
    error_of(await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": None}), 403)
    error_of(await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": 999_999_999}), 422)
    error_of(await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": "ben"}), 422)
    error_of(await ana.post(f"/api/conversations/{conv_id}/assign", {}), 422)

    async with ws(ana) as ana_ws, ws(ben) as ben_ws:
        await drain(ana_ws, 0.2)
        r = await ana.post(f"/api/conversations/{conv_id}/assign", {"userId": ben.id})
        assert r.status_code == 200, r.text
        assert r.json()["assigneeId"] == ben.id and r.json()["ownerId"] == ben.id
        assert r.json()["assigneeName"] == "Ben"
        got = await next_event(ben_ws, "conversation.updated", lambda e: e["conversationId"] == conv_id)
        assert got["data"]["assigneeId"] == ben.id
        removed = await next_event(ana_ws, "conversation.removed")
        assert removed == {**removed, "conversationId": conv_id, "data": {"conversationId": conv_id}}
        # Ana no longer receives its events; Ben does.
        await inbox.customer_writes((await admin.get(f"/api/conversations/{conv_id}")).json()["phoneNumber"][1:], "hi?")
        await next_event(ben_ws, "message.created", lambda e: e["conversationId"] == conv_id)
        assert [e for e in await drain(ana_ws) if e["conversationId"] == conv_id] == []
    error_of(await ana.get(f"/api/conversations/{conv_id}/messages"), 404)
    assert conv_id in {c["id"] for c in await ben.conversations(assignee="me")}

    # The admin gives it back to the queue; the history says who did what.
    r = await admin.post(f"/api/conversations/{conv_id}/assign", {"userId": None})
    assert r.status_code == 200 and r.json()["assigneeId"] is None
    lines = [
        (m["content"], m["direction"], m["authorId"]) for m in await admin.messages(conv_id) if m["type"] == "activity"
    ]
    assert lines == [("Ana assigned this to Ben", "internal", ana.id), ("Sam unassigned this", "internal", admin.id)]
    # The events API follows the same rule as the websocket: Ana's last event of it is its removal.
    for agent in (ana, ben):
        events = (await agent.get("/api/events", since=0)).json()["events"]
        about = [e["type"] for e in events if e["conversationId"] == conv_id]
        assert about[-1] == "conversation.removed", about


# -- status --------------------------------------------------------------------------------


async def test_status_changes_and_a_customer_message_reopens(inbox: Stack) -> None:
    ana = await member(inbox, "Ana")
    conv_id = await conversation_for(inbox, ana)
    assert (await ana.get(f"/api/conversations/{conv_id}")).json()["status"] == "open"
    for bad in ({"status": "done"}, {"status": "snoozed"}, {"status": "snoozed", "snoozedUntil": 1000}, {}):
        error_of(await ana.post(f"/api/conversations/{conv_id}/status", bad), 422)
    r = await ana.post(f"/api/conversations/{conv_id}/status", {"status": "pending"})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    r = await ana.post(f"/api/conversations/{conv_id}/status", {"status": "resolved"})
    assert r.json()["status"] == "resolved"
    phone = r.json()["phoneNumber"]
    await inbox.customer_writes(phone.lstrip("+"), "one more thing")
    conv = (await ana.get(f"/api/conversations/{conv_id}")).json()
    assert conv["status"] == "open" and conv["snoozedUntil"] is None
    lines = [m["content"] for m in await ana.messages(conv_id) if m["type"] == "activity"]
    assert lines == ["Ana marked this pending", "Ana resolved this"]


async def test_snooze_wakes_by_itself(inbox: Stack) -> None:
    ana = await member(inbox, "Ana")
    conv_id = await conversation_for(inbox, ana)
    async with ws(ana) as sock:
        until = now_ms() + 600
        r = await ana.post(f"/api/conversations/{conv_id}/status", {"status": "snoozed", "snoozedUntil": until})
        assert r.json()["status"] == "snoozed" and r.json()["snoozedUntil"] == until
        assert conv_id in {c["id"] for c in await ana.conversations(status="snoozed")}
        woke = await next_event(
            sock, "conversation.updated", lambda e: e["conversationId"] == conv_id and e["data"]["status"] == "open"
        )
        assert woke["data"]["snoozedUntil"] is None
    lines = [m["content"] for m in await ana.messages(conv_id) if m["type"] == "activity"]
    assert lines[-1] == "Snooze ended: reopened" and lines[-2].startswith("Ana snoozed this until")


@pytest.mark.parametrize("kind", DATABASES)
async def test_snooze_wakes_after_a_restart(kind: str, tmp_path: Any) -> None:
    async with database_url(kind, tmp_path) as url:
        async with stack(url) as first:
            ana = await member(first, "Ana")
            conv_id = await conversation_for(first, ana)
            until = now_ms() + 1500
            await ana.post(f"/api/conversations/{conv_id}/status", {"status": "snoozed", "snoozedUntil": until})
        await asyncio.sleep(max(0.0, (until - now_ms()) / 1000) + 0.1)  # its time passes while nothing runs
        async with stack(url) as second:
            admin = await member(second, "Boss", admin=True)

            async def reopened() -> bool:
                return (await admin.get(f"/api/conversations/{conv_id}")).json()["status"] == "open"

            assert await eventually(reopened)


# -- listing filters -----------------------------------------------------------------------


async def test_filters_combine_with_search_and_paging(inbox: Stack) -> None:
    admin = await member(inbox, "Filter Boss", admin=True)
    ana = await member(inbox, "Ana")
    word = "zx" + uuid.uuid4().hex[:8]
    label = "f" + uuid.uuid4().hex[:6]
    assert (await admin.post("/api/labels", {"name": label, "color": "#112233"})).status_code == 201
    ids = [await conversation_for(inbox, ana if i % 2 else None, f"{word} {i}") for i in range(6)]
    for conv_id in ids[:3]:
        await admin.post(f"/api/conversations/{conv_id}/status", {"status": "resolved"})
    for conv_id in ids[::2]:
        r = await request(admin, "PUT", f"/api/conversations/{conv_id}/labels", {"labels": [label]})
        assert r.status_code == 200 and r.json()["labels"] == [label]

    def listed(items: list[dict[str, Any]]) -> list[int]:
        return [c["id"] for c in items]

    newest_first = ids[::-1]
    assert listed(await admin.conversations(search=word)) == newest_first
    resolved = listed(await admin.conversations(search=word, status="resolved"))
    assert resolved == ids[:3][::-1]
    assert listed(await admin.conversations(search=word, status="open,pending")) == ids[3:][::-1]
    assert listed(await admin.conversations(search=word, status="all")) == newest_first
    assert listed(await admin.conversations(search=word, assignee="unassigned")) == ids[::2][::-1]
    assert listed(await admin.conversations(search=word, assignee=str(ana.id))) == ids[1::2][::-1]
    assert listed(await ana.conversations(search=word, assignee="me")) == ids[1::2][::-1]
    assert listed(await admin.conversations(search=word, label=label)) == ids[::2][::-1]
    both = listed(await admin.conversations(search=word, label=label, status="resolved", assignee="unassigned"))
    assert both == [ids[2], ids[0]]
    # Paging inside a filter.
    page1 = listed(await admin.conversations(search=word, label=label, limit=2))
    page2 = listed(await admin.conversations(search=word, label=label, limit=2, before=page1[-1]))
    assert page1 + page2 == ids[::2][::-1]
    counts = (await admin.get("/api/conversations/counts", search=word)).json()
    assert counts == {"open": 3, "pending": 0, "resolved": 3, "snoozed": 0, "all": 6}
    assert (await ana.get("/api/conversations/counts", search=word)).json()["all"] == 3
    for bad in ({"status": "closed"}, {"assignee": "someone"}):
        error_of(await admin.get("/api/conversations", **bad), 422)


# -- notes and mentions --------------------------------------------------------------------


async def test_notes_stay_inside_and_mentions_reach_only_who_may_see(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin = await member(inbox, "Sam Boss", admin=True)
    ana, ben = await member(inbox, "Ana Lima"), await member(inbox, "Ben")
    conv_id = await conversation_for(inbox, ana, "where is my parcel")
    before = (await ana.get(f"/api/conversations/{conv_id}")).json()
    requests_before = len(await inbox.meta_requests())
    async with ws(admin) as admin_ws, ws(ben) as ben_ws:
        await drain(admin_ws, 0.2)
        r = await ana.post(f"/api/conversations/{conv_id}/notes", {"content": "@sam boss can we refund? @nobody"})
        assert r.status_code == 201, r.text
        note = r.json()
        assert (note["type"], note["direction"], note["authorId"], note["authorName"]) == (
            "note",
            "internal",
            ana.id,
            "Ana Lima",
        )
        mention = await next_event(admin_ws, "mention")
        assert mention["conversationId"] == conv_id and mention["data"]["message"]["id"] == note["id"]
        assert mention["data"]["by"] == ana.id
        # Ben may not see it: mentioning him is refused, naming him, and nothing is stored.
        r = await ana.post(f"/api/conversations/{conv_id}/notes", {"content": "@Ben please look"})
        assert "Ben cannot see this conversation" in error_of(r, 422)
        assert [e for e in await drain(ben_ws) if e["type"] in ("mention", "message.created")] == []
    error_of(await ana.post(f"/api/conversations/{conv_id}/notes", {"content": "  "}), 422)
    error_of(await ben.post(f"/api/conversations/{conv_id}/notes", {"content": "hi"}), 404)
    # Never sent, never unread, never the last message, the window untouched.
    assert len(await inbox.meta_requests()) == requests_before
    after = (await ana.get(f"/api/conversations/{conv_id}")).json()
    for key in ("lastMessage", "lastMessageAt", "unreadCount", "windowOpenUntil"):
        assert after[key] == before[key], key
    items = await ana.messages(conv_id)
    assert [(m["type"], m["content"]) for m in items] == [
        ("text", "where is my parcel"),
        ("note", "@sam boss can we refund? @nobody"),
    ]


# -- labels --------------------------------------------------------------------------------


async def test_labels(inbox: Stack) -> None:
    admin, ana = await member(inbox, "Lab Boss", admin=True), await member(inbox, "Ana")
    name = "vip" + uuid.uuid4().hex[:6]
    error_of(await ana.post("/api/labels", {"name": name, "color": "#ff0000"}), 403)
    error_of(await admin.post("/api/labels", {"name": name, "color": "red"}), 422)
    r = await admin.post("/api/labels", {"name": name, "color": "#ff0000"})
    assert r.status_code == 201 and r.json()["name"] == name
    label_id = r.json()["id"]
    error_of(await admin.post("/api/labels", {"name": name, "color": "#ff0000"}), 409)
    assert {"id": label_id, "name": name, "color": "#ff0000"} in (await ana.get("/api/labels")).json()

    conv_id = await conversation_for(inbox, ana)
    r = await request(ana, "PUT", f"/api/conversations/{conv_id}/labels", {"labels": [name, "nope-" + name]})
    assert "nope-" + name in error_of(r, 422)
    error_of(await request(ana, "PUT", f"/api/conversations/{conv_id}/labels", {"labels": "vip"}), 422)
    r = await request(ana, "PUT", f"/api/conversations/{conv_id}/labels", {"labels": [name]})
    assert r.json()["labels"] == [name]
    assert [c["id"] for c in await ana.conversations(label=name)] == [conv_id]
    error_of(await request(ana, "DELETE", f"/api/labels/{label_id}"), 403)
    assert (await request(admin, "DELETE", f"/api/labels/{label_id}")).status_code == 200
    assert (await ana.get(f"/api/conversations/{conv_id}")).json()["labels"] == []
    error_of(await request(admin, "DELETE", f"/api/labels/{label_id}"), 404)
    lines = [m["content"] for m in await ana.messages(conv_id) if m["type"] == "activity"]
    assert lines == [f"Ana added {name} (labels)"]


# -- per-user unread, names and authors ----------------------------------------------------


async def test_unread_is_per_user_and_blue_ticks_follow_the_assignee(meta_reset: Stack) -> None:
    inbox = meta_reset
    admin, ana = await member(inbox, "Sam", admin=True), await member(inbox, "Ana")
    conv_id = await conversation_for(inbox, ana, "first")
    phone = (await ana.get(f"/api/conversations/{conv_id}")).json()["phoneNumber"]
    await inbox.customer_writes(phone.lstrip("+"), "second")
    assert (await ana.get(f"/api/conversations/{conv_id}")).json()["unreadCount"] == 2

    def reads(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [q for q in requests if (q.get("json") or {}).get("status") == "read"]

    before = len(reads(await inbox.meta_requests()))
    async with ws(ana) as ana_ws:
        await drain(ana_ws, 0.2)
        r = await admin.post(f"/api/conversations/{conv_id}/read")
        assert r.status_code == 200 and r.json()["unreadCount"] == 0
        # The admin looking changes nothing for Ana, and tells the customer nothing.
        assert [e for e in await drain(ana_ws) if e["conversationId"] == conv_id] == []
    assert (await ana.get(f"/api/conversations/{conv_id}")).json()["unreadCount"] == 2
    assert len(reads(await inbox.meta_requests())) == before
    assert {m["status"] for m in await ana.messages(conv_id)} == {"received"}

    # A new message counts for both, from each one's own position.
    await inbox.customer_writes(phone.lstrip("+"), "third")
    assert (await ana.get(f"/api/conversations/{conv_id}")).json()["unreadCount"] == 3
    assert (await admin.get(f"/api/conversations/{conv_id}")).json()["unreadCount"] == 1
    # The assignee reading gives the blue ticks.
    r = await ana.post(f"/api/conversations/{conv_id}/read")
    assert r.json()["unreadCount"] == 0
    assert len(reads(await inbox.meta_requests())) == before + 1
    assert {m["status"] for m in await ana.messages(conv_id)} == {"read"}
    assert (await admin.get(f"/api/conversations/{conv_id}")).json()["unreadCount"] == 1


async def test_replies_say_who_sent_them_and_invited_names_show(meta_reset: Stack) -> None:
    inbox = meta_reset
    ana = await member(inbox, "Ana")
    phone = new_phone()
    await ana.post("/api/invitations", {"name": "Baraka Mushi", "phoneNumber": phone})
    r = await ana.send(phoneNumber=phone, content="Karibu!")
    assert r.status_code == 201, r.text
    assert r.json()["authorId"] == ana.id and r.json()["authorName"] == "Ana"
    conv = await ana.conversation_with(phone)
    assert conv is not None and conv["contactName"] == "Baraka Mushi" and conv["assigneeName"] == "Ana"
    await inbox.customer_writes(phone.lstrip("+"), "asante", name="Baraka")
    items = await ana.messages(conv["id"])
    assert [(m["direction"], m["authorId"]) for m in items] == [("outbound", ana.id), ("inbound", None)]
