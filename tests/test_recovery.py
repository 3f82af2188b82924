"""A reply whose process died mid-send is not left pending forever after a restart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.servers import database_url, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_reply_abandoned_by_a_crash_fails_with_a_reason_after_restart(tmp_path: Any) -> None:
    async with database_url("sqlite", tmp_path) as url:
        phone = new_phone()
        async with stack(url) as inbox:
            agent = await inbox.user()
            await agent.post("/api/invitations", {"name": "C", "phoneNumber": phone})
            await inbox.customer_writes(phone.lstrip("+"), "hi")
            conv = await agent.conversation_with(phone)
            # What a process that died between storing and sending leaves behind:
            # a pending reply with no wamid, stored an hour ago.
            db = inbox.app.state.db

            async def leave_pending(tx: Any) -> None:
                await tx.execute(
                    "INSERT INTO messages (conversation_id, direction, type, content, status, created_at)"
                    " VALUES (:c, 'outbound', 'text', 'lost in the crash?', 'pending', :t)",
                    c=conv["id"],
                    t=1_000,
                )

            await db.write(leave_pending)
            token = agent.token
        async with stack(url) as restarted:
            r = await restarted.http.get(
                f"{restarted.base_url}/api/conversations/{conv['id']}/messages",
                headers={"Authorization": f"Bearer {token}"},
            )
            [reply] = [m for m in r.json() if m["content"] == "lost in the crash?"]
            assert reply["status"] == "failed"
            assert "send it again" in reply["error"]["message"]
