"""Agent replies: stored first, then sent through the Cloud API, the outcome recorded.

The order matters: a message the agent typed exists in the database before Meta is called,
so a crash, a timeout or a refusal leaves it visible with its reason instead of lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .auth import User
from .store import Outbound, Store
from .whatsapp import CloudAPI, SendError, error_object

log = logging.getLogger(__name__)


async def deliver(store: Store, outbound: Outbound, send: Callable[[str], Awaitable[str]]) -> dict[str, Any]:
    """Hand a stored reply to Meta with `send(to)` and record the outcome: its wamid, or
    failed with a reason the agent can read. A duplicate (same client id) is not sent again."""
    message = outbound.message
    if outbound.duplicate:
        return message
    try:
        wamid = await send(outbound.to)
    except SendError as exc:
        log.warning("send of message %s failed: %s (code %s)", message["id"], exc, exc.error.get("code"))
        return await store.record_failed(message["id"], exc.error)
    except Exception as exc:  # never leave the agent's message pending forever
        log.exception("send of message %s crashed", message["id"])
        return await store.record_failed(message["id"], error_object(None, "Internal error", str(exc)))
    log.info("sent message %s as %s (%s)", message["id"], wamid, message["type"])
    return await store.record_sent(message["id"], wamid)


class Outbox:
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
    ) -> dict[str, Any]:
        outbound = await self.store.create_outbound(user, content, phone, conversation_id, client_id)
        return await deliver(self.store, outbound, lambda to: self.cloud.send_text(to, outbound.message["content"]))

    async def mark_read(self, user: User, conversation_id: int) -> dict[str, Any]:
        """Clear the badge here, and give the customer blue ticks there."""
        conversation, wamid = await self.store.mark_read(user, conversation_id)
        if wamid:
            try:
                await self.cloud.mark_read(wamid)
            except SendError as exc:
                # The local read state stands; blue ticks are a courtesy that may fail.
                log.warning("mark-read of %s on WhatsApp failed: %s", wamid, exc)
        return conversation
