"""Meta's webhook bodies, built by hand for tests: the one place that knows their shape.

`envelope(message_value([msg(phone, "text", "hi")], [contact(phone, "Ann")]))` is a whole
body with one text message; `dumps` serialises it as Meta does (the signature is over those
exact bytes). server/fake_meta.py builds the same shapes for the stand-in's own webhooks.
"""

from __future__ import annotations

import json
import time
from typing import Any

from server.fake_meta import new_wamid
from tests.servers import PHONE_NUMBER_ID

WABA_ID = "2000000002"
METADATA = {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID}


def now_s() -> int:
    return int(time.time())


def envelope(*changes: dict[str, Any], entries: list[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Meta's outer shape: one entry with `changes` (values), or several `entries`."""
    groups = entries if entries is not None else [list(changes)]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": v} for v in group]} for group in groups],
    }


def message_value(
    messages: list[dict[str, Any]], contacts: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """One change's `value` carrying `messages` (and the senders' `contacts`)."""
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": METADATA}
    if contacts is not None:
        value["contacts"] = contacts
    value["messages"] = messages
    value.update(extra)
    return value


def contact(phone: str | None, name: str, user_id: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"profile": {"name": name}}
    if phone:
        c["wa_id"] = phone.lstrip("+")
    if user_id:
        c["user_id"] = user_id
    return c


def msg(
    phone: str | None,
    mtype: str = "text",
    payload: Any = None,
    *,
    wamid: str | None = None,
    ts: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One entry of `messages[]`; `payload` goes under the type's key (text: the body)."""
    m: dict[str, Any] = {
        "from": phone.lstrip("+") if phone else "",
        "id": wamid or new_wamid(),
        "timestamp": str(ts or now_s()),
        "type": mtype,
    }
    if mtype == "text":
        m["text"] = {"body": payload if payload is not None else "hello"}
    elif payload is not None:
        m[mtype] = payload
    m.update(extra)
    return m


def one_message(phone: str, name: str, mtype: str = "text", payload: Any = None, **kw: Any) -> tuple[dict, str]:
    """A whole webhook body with one message from `phone`; returns (body, wamid)."""
    m = msg(phone, mtype, payload, **kw)
    return envelope(message_value([m], [contact(phone, name)])), m["id"]


def dumps(body: Any) -> bytes:
    """Serialised like Meta: compact, non-ASCII escaped as \\uXXXX."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode()
