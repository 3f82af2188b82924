"""Agent replies: stored first, then sent through the Cloud API, the outcome recorded.

The order matters: a message the agent typed exists in the database before Meta is called,
so a crash, a timeout or a refusal leaves it visible with its reason instead of lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import reads
from .auth import User
from .delivery import send_and_record
from .receipts import ReadReceipts
from .store import Outbound, Store
from .whatsapp import CloudAPI, SendError

log = logging.getLogger(__name__)


async def deliver(store: Store, outbound: Outbound, send: Callable[[str], Awaitable[str]]) -> dict[str, Any]:
    """Hand a stored reply to Meta with `send(to)` and record the outcome: its wamid, or
    failed with a reason the agent can read. In the server this runs in the background
    (server/delivery.py): the reply is returned as it stands after at most SEND_WAIT seconds.
    A duplicate (same client id) is not sent again."""
    if store.receipts is not None and not outbound.duplicate:
        await store.receipts.replied(outbound.message)  # READ_RECEIPTS=on_reply
    if store.deliveries is not None:
        return await store.deliveries.deliver(outbound, send)
    if outbound.duplicate:
        return outbound.message
    return await send_and_record(store, outbound, send)


class Outbox:
    # READ_RECEIPTS (server/receipts.py); None: blue ticks on open, as before the setting.
    receipts: ReadReceipts | None = None

    def __init__(self, store: Store, cloud: CloudAPI) -> None:
        self.store = store
        self.cloud = cloud

    async def send_text(
        self,
        user: User,
        content: str,
        phone: str | None = None,
        conversation_id: int | None = None,
        client_id: str | None = None,
        number_id: str | None = None,
    ) -> dict[str, Any]:
        outbound = await self.store.create_outbound(
            user, content, phone, conversation_id, client_id, number_id=number_id
        )
        return await deliver(
            self.store,
            outbound,
            lambda to: self.cloud.send_text(to, outbound.message["content"], from_id=outbound.number_id),
        )

    async def mark_read(self, user: User, conversation_id: int) -> dict[str, Any]:
        """Clear this user's badge here, and (for the assignee) give the customer blue ticks there."""
        conversation, wamid = await reads.mark_read(self.store, user, conversation_id)
        if wamid and self.receipts is not None:
            await self.receipts.opened(conversation_id, wamid, conversation.get("businessNumberId"))
        elif wamid:
            # The local read state stands at once; blue ticks are a courtesy that may fail,
            # and an unreachable Graph API must not hold the agent's request.
            if self.store.deliveries is not None:
                task = self.store.deliveries.background(self._blue_ticks(wamid, conversation.get("businessNumberId")))
                await asyncio.wait({task}, timeout=self.store.deliveries.wait)
            else:
                await self._blue_ticks(wamid, conversation.get("businessNumberId"))
        return conversation

    async def _blue_ticks(self, wamid: str, from_id: str | None = None) -> None:
        try:
            await self.cloud.mark_read(wamid, from_id=from_id)
        except SendError as exc:
            log.warning("mark-read of %s on WhatsApp failed: %s", wamid, exc)
