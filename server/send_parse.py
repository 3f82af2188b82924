"""A JSON send body read into its parsed form (server/sends.py).

Only the shape is checked here (is `content` text?); what WhatsApp would refuse is checked
by the outbox and the modules it calls, before anything is stored.
"""

from __future__ import annotations

from typing import Any

from .errors import Invalid
from .sends import Send, TemplateSend, TextSend


def parse_send(body: dict[str, Any]) -> Send:
    """The reply a JSON body asks for: a `template`, else the text in `content`."""
    if body.get("template") is not None:
        return TemplateSend(body["template"])
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        raise Invalid("content must be text", "invalid_field")
    return TextSend(content or "")
