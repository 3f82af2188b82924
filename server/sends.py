"""What an agent asked to send, parsed: the one shape every reply has on its way out.

The HTTP layer (server/api.py, server/upload_form.py) turns a request into a `Target` and
one of the `Send` kinds; the outbox (server/outbox.py) is the only place that stores and
sends them. Keeping the parsed form typed means a new kind of message is a new dataclass
here and one branch in the outbox, not a new path from the route to Meta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """Who a reply goes to: a conversation, or a phone number (and then, optionally, which
    business number it leaves from). `client_id` makes a retried request safe; `reply_to` is
    the id of a message of the conversation the reply quotes (server/quoting.py)."""

    conversation_id: int | None = None
    phone: str | None = None
    client_id: str | None = None
    number_id: str | None = None
    reply_to: int | None = None


@dataclass(frozen=True)
class TextSend:
    content: str


@dataclass(frozen=True)
class FileSend:
    """A file the agent attached, with what the browser said about it; server/media_rules.py
    decides what WhatsApp will take it as."""

    data: bytes
    filename: str | None
    content_type: str | None
    caption: str = ""
    requested: str | None = None  # the form's `type` field: image, video, audio, document, sticker
    voice: bool = False  # a recorded voice note: sent as OGG/Opus audio the phone plays as one


@dataclass(frozen=True)
class TemplateSend:
    """The request's `template` object as given; server/templates.py checks it against the
    local copy of the account's templates (it needs the database to do so). `header_file`:
    the file of a media header, uploaded with the send."""

    spec: Any
    header_file: FileSend | None = None


@dataclass(frozen=True)
class RichSend:
    """A location, contact cards or an interactive message, already checked
    (server/rich_messages.py): `body` is the Graph object Meta documents for `kind`,
    `content` the line shown in the thread and the list, `data` what is stored with it."""

    kind: str  # location, contacts, interactive
    body: dict[str, Any] | list[dict[str, Any]]
    content: str
    data: Any


Send = TextSend | TemplateSend | FileSend | RichSend
