"""Quick replies through the API (issue 11): the team's (admins edit them) and each agent's
own (private), with the shortcut rules and live events; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.auth import new_token
from tests.servers import Agent, Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def member(inbox: Stack, name: str, admin: bool = False) -> Agent:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = await inbox.app.state.store.create_user(email, "no password", admin, name)
    token, hashed = new_token()
    await inbox.app.state.store.add_token(user_id, hashed)
    return Agent(inbox, user_id, email, token)


async def call(agent: Agent, method: str, path: str, body: Any = None) -> Any:
    return await agent.stack.http.request(method, f"{agent.stack.base_url}{path}", json=body, headers=agent.headers)


def shortcuts(items: list[dict[str, Any]]) -> set[str]:
    return {q["shortcut"] for q in items}


async def test_team_and_private_quick_replies(inbox: Stack) -> None:
    admin, ana, ben = await member(inbox, "Sam", admin=True), await member(inbox, "Ana"), await member(inbox, "Ben")
    tag = uuid.uuid4().hex[:6]
    since = (await ana.get("/api/events")).json()["lastId"]

    # An admin's quick reply is the team's by default; "/" and case are not part of the shortcut.
    r = await admin.post("/api/quick-replies", {"shortcut": f"/Hours{tag}", "content": "We open at 7, {{name}}."})
    assert r.status_code == 201, r.text
    hours = r.json()
    assert hours["shortcut"] == f"hours{tag}" and hours["shared"] is True and hours["editable"] is True
    assert hours["content"] == "We open at 7, {{name}}."

    # Every agent sees it (and is told live), none may change or delete it.
    listed = (await ana.get("/api/quick-replies")).json()
    [seen] = [q for q in listed if q["id"] == hours["id"]]
    assert seen["shared"] is True and seen["editable"] is False
    events = (await ana.get("/api/events", since=since)).json()["events"]
    assert any(e["type"] == "quick_reply.updated" and e["data"]["id"] == hours["id"] for e in events)
    r = await call(ana, "PATCH", f"/api/quick-replies/{hours['id']}", {"content": "Closed"})
    assert r.status_code == 403 and r.json()["code"] == "admin_only"
    r = await call(ana, "DELETE", f"/api/quick-replies/{hours['id']}")
    assert r.status_code == 403
    r = await ana.post("/api/quick-replies", {"shortcut": "team" + tag, "content": "x", "shared": True})
    assert r.status_code == 403 and r.json()["code"] == "admin_only"

    # An agent's own one is private: nobody else sees it, admins included.
    r = await ana.post("/api/quick-replies", {"shortcut": "thanks" + tag, "content": "Thank you! {{agent}}"})
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["shared"] is False and mine["ownerId"] == ana.id and mine["editable"] is True
    assert "thanks" + tag in shortcuts((await ana.get("/api/quick-replies")).json())
    assert "thanks" + tag not in shortcuts((await ben.get("/api/quick-replies")).json())
    assert "thanks" + tag not in shortcuts((await admin.get("/api/quick-replies")).json())
    assert (await call(ben, "PATCH", f"/api/quick-replies/{mine['id']}", {"content": "y"})).status_code == 404
    assert (await call(admin, "DELETE", f"/api/quick-replies/{mine['id']}")).status_code == 404
    ben_events = (await ben.get("/api/events", since=since)).json()["events"]
    assert not any(e["type"].startswith("quick_reply") and e["data"].get("id") == mine["id"] for e in ben_events)

    # Shortcuts are unique per owner: Ben may have his own /thanks, Ana not a second one.
    r = await ana.post("/api/quick-replies", {"shortcut": "THANKS" + tag, "content": "again"})
    assert r.status_code == 409 and r.json()["code"] == "shortcut_taken"
    assert (await ben.post("/api/quick-replies", {"shortcut": "thanks" + tag, "content": "Ben's"})).status_code == 201

    # She edits and deletes her own.
    change = {"content": "Thanks a lot!", "shortcut": "ty" + tag}
    r = await call(ana, "PATCH", f"/api/quick-replies/{mine['id']}", change)
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "Thanks a lot!" and r.json()["shortcut"] == "ty" + tag
    assert (await call(ana, "DELETE", f"/api/quick-replies/{mine['id']}")).status_code == 200
    assert mine["id"] not in {q["id"] for q in (await ana.get("/api/quick-replies")).json()}
    events = (await ana.get("/api/events", since=since)).json()["events"]
    assert {"type": "quick_reply.deleted", "data": {"id": mine["id"]}} in [
        {"type": e["type"], "data": e["data"]} for e in events
    ]

    # The admin edits the team's one: everyone gets the new text.
    r = await call(admin, "PATCH", f"/api/quick-replies/{hours['id']}", {"content": "We open at 6:30."})
    assert r.status_code == 200
    [seen] = [q for q in (await ben.get("/api/quick-replies")).json() if q["id"] == hours["id"]]
    assert seen["content"] == "We open at 6:30."


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"content": "no shortcut"}, "invalid_shortcut"),
        ({"shortcut": "two words", "content": "x"}, "invalid_shortcut"),
        ({"shortcut": "x" * 33, "content": "x"}, "invalid_shortcut"),
        ({"shortcut": "empty"}, "invalid_content"),
        ({"shortcut": "long", "content": "x" * 4097}, "invalid_content"),
        ({"shortcut": "ok", "content": "x", "shared": "yes"}, "invalid_field"),
    ],
)
async def test_quick_reply_refusals(inbox: Stack, body: dict[str, Any], code: str) -> None:
    admin = await member(inbox, "Root", admin=True)
    r = await admin.post("/api/quick-replies", body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code and r.json()["error"]
    assert (await call(admin, "PATCH", "/api/quick-replies/999999999", {"content": "x"})).status_code == 404
    assert (await call(admin, "DELETE", "/api/quick-replies/abc")).status_code == 404
