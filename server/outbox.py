"""Agent replies: the one way out. Stored first, then sent through the Cloud API, the
outcome recorded.

Every kind of reply (text, template, file) arrives here already parsed (server/sends.py)
and leaves through `Outbox.send`: checked against WhatsApp's rules, stored as pending, then
handed to Meta. The order matters: a message the agent typed exists in the database before
Meta is called, so a crash, a timeout or a refusal leaves it visible with its reason instead
of lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from . import media_files, quoting, reads, template_parts, voice
from .auth import User
from .db import Tx
from .delivery import Send, send_and_record
from .media_rules import CheckedFile, check_file
from .media_storage import MediaStore, keep
from .receipts import ReadReceipts
from .sends import FileSend, RichSend, Target, TemplateSend, TextSend
from .sends import Send as Parsed
from .store import Outbound, Store
from .templates import TemplateService
from .whatsapp import CloudAPI, SendError

log = logging.getLogger(__name__)


async def deliver(store: Store, outbound: Outbound, send: Send) -> dict[str, Any]:
    """Hand a stored reply to Meta with `send(to)` and record the outcome: its wamid, or
    failed with a reason the agent can read. In the server this runs in the background
    (server/delivery.py): the reply is returned as it stands after at most SEND_WAIT seconds.
    A duplicate (same client id) is not sent again."""
    if store.receipts is not None and not outbound.duplicate:
        await store.receipts.replied(outbound.message)  # READ_RECEIPTS=on_reply
    if store.deliveries is not None:
        result: dict[str, Any] = await store.deliveries.deliver(outbound, send)
        return result
    if outbound.duplicate:
        return outbound.message
    return await send_and_record(store, outbound, send)


def _via(outbound: Outbound) -> dict[str, Any]:
    """How a stored reply leaves: from the customer's business number, quoting what it quotes."""
    return {"reply_to_wamid": quoting.quoted_wamid(outbound.message), "from_id": outbound.number_id}


@dataclass(frozen=True)
class Prepared:
    """A reply checked and ready to store: its message type and text, what is stored beside
    it, and how the stored reply is handed to Meta (`call(outbound)` gives `send(to)`)."""

    kind: str
    content: str
    call: Callable[[Outbound], Send]
    media: dict[str, Any] | None = None
    data: Any = None
    after_insert: Callable[[Tx, int], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Kept:
    file: CheckedFile
    media: dict[str, Any]
    record: Callable[[Tx, int], Awaitable[None]]


class Outbox:
    # READ_RECEIPTS (server/receipts.py); None: blue ticks on open, as before the setting.
    receipts: ReadReceipts | None = None

    def __init__(self, store: Store, cloud: CloudAPI, templates: TemplateService, files: MediaStore) -> None:
        self.store = store
        self.cloud = cloud
        self.templates = templates
        self.files = files

    async def send(self, user: User, target: Target, what: Parsed) -> dict[str, Any]:
        """Check, store, then hand to Meta any reply: the message as it stands after at most
        SEND_WAIT seconds (a 422 before anything is stored when WhatsApp would refuse it)."""
        prepared = await self._prepare(what)
        outbound = await self.store.create_outbound(
            user,
            prepared.content,
            target.phone,
            target.conversation_id,
            target.client_id,
            kind=prepared.kind,
            media=prepared.media,
            data=prepared.data,
            after_insert=quoting.with_quote(prepared.after_insert, target.reply_to),
            number_id=target.number_id,
        )
        return await deliver(self.store, outbound, prepared.call(outbound))

    async def _prepare(self, what: Parsed) -> Prepared:
        if isinstance(what, TextSend):
            return Prepared("text", what.content, self._text)
        if isinstance(what, TemplateSend):
            return await self._template(what)
        if isinstance(what, RichSend):
            return self._rich(what)
        return await self._file(what)

    def _text(self, outbound: Outbound) -> Send:
        return lambda to: self.cloud.send_text(to, outbound.message["content"], **_via(outbound))

    async def _template(self, what: TemplateSend) -> Prepared:
        resolved = await self.templates.resolve(what.spec, uploaded_header=what.header_file is not None)
        template = resolved.template
        if resolved.upload_header is None or what.header_file is None:

            def call(outbound: Outbound) -> Send:
                return lambda to: self.cloud.send_message(to, "template", template, **_via(outbound))

            return Prepared("template", resolved.content, call, data=resolved.data)
        # A media header uploaded with the send: checked and kept like any file, shown in
        # the thread, uploaded to Meta when the template is sent.
        header = what.header_file
        stored = await self._keep(header, header.data, header.filename, header.content_type, resolved.upload_header)
        kind, file = resolved.upload_header, stored.file

        def call_with_header(outbound: Outbound) -> Send:
            async def upload_and_send(to: str) -> str:
                media_id = await self.cloud.upload_media(
                    header.data, file.mime, file.filename, from_id=outbound.number_id
                )
                component = template_parts.uploaded_header(kind, media_id, file.filename)
                body = template_parts.with_header(template, component)
                return await self.cloud.send_message(to, "template", body, **_via(outbound))

            return upload_and_send

        data = {**resolved.data, "headerMedia": {"type": kind, "filename": file.filename}}
        return Prepared("template", resolved.content, call_with_header, stored.media, data, stored.record)

    def _rich(self, what: RichSend) -> Prepared:
        def call(outbound: Outbound) -> Send:
            return lambda to: self.cloud.send_message(to, what.kind, what.body, **_via(outbound))

        return Prepared(what.kind, what.content, call, data=what.data)

    async def _keep(
        self, what: FileSend, data: bytes, filename: str | None, content_type: str | None, requested: str | None
    ) -> Kept:
        """A file checked against WhatsApp's limits and kept in the media store before its
        message is stored: how it is described on the message, and how its row is written."""
        file = check_file(data, filename, content_type, what.caption, requested)
        key, digest = await keep(self.files, data)
        local_id = "out-" + uuid.uuid4().hex
        media = {
            "id": local_id,
            "mimeType": file.mime,
            "sha256": digest,
            "caption": file.caption or None,
            "filename": file.filename,
            "size": len(data),
            "status": "ready",
        }
        if what.voice:
            media["voice"] = True
        record = partial(
            _record_file, local_id=local_id, mime=file.mime, sha256=digest, size=len(data), key=key, name=file.filename
        )
        return Kept(file, media, record)

    async def _file(self, what: FileSend) -> Prepared:
        """A file is uploaded to Meta when it is sent, and sent by the id Meta gives back."""
        data, filename, content_type, requested = what.data, what.filename, what.content_type, what.requested
        if what.voice:  # a recording: OGG/Opus, the only audio WhatsApp plays as a voice note
            data = await asyncio.to_thread(voice.to_ogg_opus, data)
            filename, content_type, requested = voice.VOICE_NAME, voice.VOICE_MIME, "audio"
        stored = await self._keep(what, data, filename, content_type, requested)
        file = stored.file

        def call(outbound: Outbound) -> Send:
            async def upload_and_send(to: str) -> str:
                media_id = await self.cloud.upload_media(data, file.mime, file.filename, from_id=outbound.number_id)
                body: dict[str, Any] = {"id": media_id}
                if file.caption:
                    body["caption"] = file.caption
                if file.kind == "document":
                    body["filename"] = file.filename
                if what.voice:
                    body["voice"] = True
                return await self.cloud.send_message(to, file.kind, body, **_via(outbound))

            return upload_and_send

        content = file.caption or (file.filename if file.kind == "document" else "")
        return Prepared(file.kind, content, call, media=stored.media, after_insert=stored.record)

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


async def _record_file(
    tx: Tx, message_id: int, *, local_id: str, mime: str, sha256: str, size: int, key: str, name: str
) -> None:
    await media_files.record_outbound(tx, local_id, message_id, mime, sha256, size, key, name)
