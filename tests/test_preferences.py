"""Notification preferences are the user's own, kept on the server (SQLite and PostgreSQL),
and offer the unassigned queue only to those who may see it."""

from __future__ import annotations

import pytest

from server.auth import User
from server.preferences import Preferences, wants
from tests.servers import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_defaults_changes_and_validation(inbox: Stack) -> None:
    ana, admin = await inbox.user(), await inbox.user(admin=True)
    r = await ana.get("/api/me/preferences")
    assert r.status_code == 200
    # An agent without AGENTS_SEE_UNASSIGNED is offered only their own conversations.
    assert r.json() == {"sound": True, "desktop": True, "scope": "all", "scopes": ["mine"]}
    assert (await admin.get("/api/me/preferences")).json()["scopes"] == ["mine", "queue", "all"]

    put = inbox.http.put
    r = await put(f"{inbox.base_url}/api/me/preferences", json={"sound": False}, headers=ana.headers)
    assert r.status_code == 200 and r.json()["sound"] is False and r.json()["desktop"] is True
    r = await put(f"{inbox.base_url}/api/me/preferences", json={"scope": "queue"}, headers=ana.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_field"
    r = await put(f"{inbox.base_url}/api/me/preferences", json={"desktop": "yes"}, headers=ana.headers)
    assert r.status_code == 422
    r = await put(f"{inbox.base_url}/api/me/preferences", json={"scope": "mine"}, headers=admin.headers)
    assert r.json()["scope"] == "mine"
    # Each user's own: the admin's change left Ana's alone, and Ana's is kept.
    assert (await ana.get("/api/me/preferences")).json() == {
        "sound": False,
        "desktop": True,
        "scope": "all",
        "scopes": ["mine"],
    }
    r = await inbox.http.get(f"{inbox.base_url}/api/me/preferences")
    assert r.status_code == 401


async def test_scope_narrows_visibility_never_widens_it() -> None:
    agent = User(7, "a@example.com", False, "A", sees_unassigned=False)
    queue_agent = User(8, "b@example.com", False, "B", sees_unassigned=True)
    admin = User(1, "c@example.com", True, "C")
    everything = Preferences(scope="all")
    assert wants(agent, everything, 7) and not wants(agent, everything, None) and not wants(agent, everything, 9)
    assert wants(queue_agent, Preferences(scope="queue"), None)
    assert not wants(queue_agent, Preferences(scope="mine"), None)
    assert wants(admin, everything, 9)
    assert not wants(admin, Preferences(scope="queue"), 9) and wants(admin, Preferences(scope="queue"), None)
