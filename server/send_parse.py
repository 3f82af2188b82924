"""A JSON send body read into its parsed form (server/sends.py).

Only the shape is checked here (is `content` text?); what WhatsApp would refuse is checked
by the outbox and the modules it calls, before anything is stored.
"""

from __future__ import annotations

from typing import Any

from . import rich_messages
from .errors import Invalid
from .sends import Send, TemplateSend, TextSend

RICH = {
    "location": rich_messages.location,
    "contacts": rich_messages.contacts,
    "interactive": rich_messages.interactive,
}


def parse_send(body: dict[str, Any]) -> Send:
    """The reply a JSON body asks for: a `template`, a `location`, `contacts` or an
    `interactive` message, else the text in `content`."""
    kinds = [k for k in ("template", *RICH) if body.get(k) is not None]
    if len(kinds) > 1:
        raise Invalid(f"send one message at a time: {' and '.join(kinds)} were both given", "invalid_field")
    if kinds and kinds[0] in RICH:
        if body.get("content"):
            raise Invalid(f"content is for text messages: a {kinds[0]} message is sent without it", "invalid_field")
        return RICH[kinds[0]](body[kinds[0]])
    if body.get("template") is not None:
        return TemplateSend(body["template"])
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        raise Invalid("content must be text", "invalid_field")
    return TextSend(content or "")
