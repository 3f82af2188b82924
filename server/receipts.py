"""When the customer gets blue ticks: `READ_RECEIPTS=on_open|on_reply|never`.

`on_open` (the default, and the behaviour before the setting existed): the assignee opening
the conversation marks the customer's messages read on WhatsApp (server/reads.py decides
whose open counts). `on_reply`: opening only clears the agent's own badge; the ticks go out
when someone replies, so a customer never sees "read" without an answer on its way.
`never`: the customer never sees blue ticks.

The newest customer message ticked is kept per conversation (`read_receipts`), so a second
reply, or a second process answering the same conversation, does not tick it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .db import Database, Tx, now_ms
from .whatsapp import CloudAPI, SendError

log = logging.getLogger(__name__)

ON_OPEN, ON_REPLY, NEVER = "on_open", "on_reply", "never"
POLICIES = (ON_OPEN, ON_REPLY, NEVER)

Background = Callable[[Awaitable[Any]], "asyncio.Task[Any]"]


class ReadReceipts:
    def __init__(
        self,
        db: Database,
        cloud: CloudAPI,
        policy: str = ON_OPEN,
        background: Background | None = None,
        wait: float = 1.0,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"READ_RECEIPTS must be one of {', '.join(POLICIES)}")
        self.db = db
        self.cloud = cloud
        self.policy = policy
        self._background = background
        self._wait = wait

    @property
    def on_open(self) -> bool:
        return self.policy == ON_OPEN

    async def opened(self, conversation_id: int, wamid: str, number_id: str | None) -> None:
        """The assignee opened the conversation (server/reads.py found `wamid` unread)."""
        if self.policy == ON_OPEN:
            await self._give(conversation_id, wamid, number_id)

    async def replied(self, message: dict[str, Any]) -> None:
        """An agent's reply was stored: with `on_reply`, the customer's newest message is
        ticked, in the background (the reply's answer never waits for it)."""
        if self.policy != ON_REPLY or message.get("direction") != "outbound":
            return
        conversation_id = message.get("conversationId")
        if not isinstance(conversation_id, int):
            return
        if self._background is None:
            await self._tick_newest(conversation_id)
        else:
            self._background(self._tick_newest(conversation_id))

    async def _tick_newest(self, conversation_id: int) -> None:
        newest = await self.db.fetch_one(
            "SELECT m.wamid, c.business_number_id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.conversation_id = :c AND m.direction = 'inbound' AND m.wamid IS NOT NULL"
            " ORDER BY m.id DESC LIMIT 1",
            c=conversation_id,
        )
        if newest is None:
            return
        ticked = await self.db.fetch_val(
            "SELECT wamid FROM read_receipts WHERE conversation_id = :c", c=conversation_id
        )
        if ticked != newest["wamid"]:
            await self._tick(conversation_id, newest["wamid"], newest["business_number_id"])

    async def _give(self, conversation_id: int, wamid: str, number_id: str | None) -> None:
        """The local read state stands already; ticks are a courtesy that may fail, and an
        unreachable Graph API must not hold the agent's request longer than SEND_WAIT."""
        work = self._tick(conversation_id, wamid, number_id)
        if self._background is None:
            await work
            return
        task = self._background(work)
        await asyncio.wait({task}, timeout=self._wait)

    async def _tick(self, conversation_id: int, wamid: str, number_id: str | None) -> None:
        try:
            await self.cloud.mark_read(wamid, from_id=number_id)
        except SendError as exc:
            log.warning("mark-read of %s on WhatsApp failed: %s", wamid, exc)
            return

        async def record(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO read_receipts (conversation_id, wamid, sent_at) VALUES (:c, :w, :t)"
                " ON CONFLICT (conversation_id) DO UPDATE SET wamid = excluded.wamid, sent_at = excluded.sent_at",
                c=conversation_id,
                w=wamid,
                t=now_ms(),
            )

        await self.db.write(record)
