"""Agent replies: stored first, then sent through the Cloud API, the outcome recorded.

The order matters: a message the agent typed exists in the database before Meta is called,
so a crash, a timeout or a refusal leaves it visible with its reason instead of lost.
"""

from __future__ import annotations

import logging
from typing import Any

from .auth import User
from .store import Store
from .whatsapp import CloudAPI, SendError, error_object

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, store: Store, cloud: CloudAPI) -> None:
        self.store = store
        self.cloud = cloud

    async def send_text(self, user: User, content: str, phone: str | None = None,
                        conversation_id: int | None = None, client_id: str | None = None) -> dict[str, Any]:
        outbound = await self.store.create_outbound(user, content, phone, conversation_id, client_id)
        if outbound.duplicate:
            return outbound.message
        message = outbound.message
        try:
            wamid = await self.cloud.send_text(outbound.to, message["content"])
        except SendError as exc:
            log.warning("send of message %s failed: %s (code %s)", message["id"], exc, exc.error.get("code"))
            return await self.store.record_failed(message["id"], exc.error)
        except Exception as exc:  # never leave the agent's message pending forever
            log.exception("send of message %s crashed", message["id"])
            return await self.store.record_failed(message["id"], error_object(None, "Internal error", str(exc)))
        log.info("sent message %s as %s", message["id"], wamid)
        return await self.store.record_sent(message["id"], wamid)

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
