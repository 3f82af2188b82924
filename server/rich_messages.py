"""Locations, contact cards and interactive messages (reply buttons, lists) an agent sends.

Each arrives in the Cloud API's own shape and is checked here against the limits Meta
documents (at most 3 reply buttons, 10 list rows, 20-character button titles, …), so a
mistake is a 422 naming the field before anything is stored or sent, not a refusal from
Meta later. What is stored beside the message (`data`) has the shape the dashboard already
shows for a customer's location or contact card.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import Invalid
from .sends import RichSend

MAX_CONTACTS = 257  # Meta: "up to 257 contacts" per message
MAX_BUTTONS = 3
MAX_ROWS = 10
MAX_SECTIONS = 10
NAME_PARTS = ("first_name", "last_name", "middle_name", "suffix", "prefix")
_CARD_LISTS: dict[str, tuple[str, ...]] = {
    "phones": ("phone", "type", "wa_id"),
    "emails": ("email", "type"),
    "urls": ("url", "type"),
    "addresses": ("street", "city", "state", "zip", "country", "country_code", "type"),
}
_ORG = ("company", "department", "title")
_BIRTHDAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _text(value: Any, where: str, code: str, limit: int, required: bool = True) -> str | None:
    """A trimmed text of at most `limit` characters; None when it is optional and absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(f"{where} is required", code)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{where} must be text", code)
    text = value.strip()
    if len(text) > limit:
        raise Invalid(f"{where} is longer than WhatsApp's {limit} characters", code)
    return text


def _required(value: Any, where: str, code: str, limit: int) -> str:
    text = _text(value, where, code, limit)
    assert text is not None
    return text


def _object(value: Any, where: str, code: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be an object", code)
    return value


def _only(obj: dict[str, Any], allowed: tuple[str, ...], where: str, code: str) -> None:
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        raise Invalid(f"{where}: unknown field(s) {', '.join(unknown)}; WhatsApp takes {', '.join(allowed)}", code)


# -- location --------------------------------------------------------------------------------


def _coordinate(value: Any, where: str, bound: float) -> float:
    if value is None:
        raise Invalid(f"{where} is required", "invalid_location")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Invalid(f"{where} must be a number", "invalid_location")
    try:
        number = float(value)
    except ValueError:
        raise Invalid(f"{where} must be a number", "invalid_location") from None
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise Invalid(f"{where} must be between -{bound:g} and {bound:g}", "invalid_location")
    return number


def location(raw: Any) -> RichSend:
    """`{"latitude", "longitude", "name"?, "address"?}`: a pin the customer can open in maps."""
    obj = _object(raw, "location", "invalid_location")
    _only(obj, ("latitude", "longitude", "name", "address"), "location", "invalid_location")
    body: dict[str, Any] = {
        "latitude": _coordinate(obj.get("latitude"), "location.latitude", 90),
        "longitude": _coordinate(obj.get("longitude"), "location.longitude", 180),
    }
    for key in ("name", "address"):
        text = _text(obj.get(key), f"location.{key}", "invalid_location", 1000, required=False)
        if text:
            body[key] = text
    content = body.get("name") or body.get("address") or f"{body['latitude']}, {body['longitude']}"
    return RichSend("location", body, str(content), dict(body))


# -- contact cards ---------------------------------------------------------------------------


def _card(raw: Any, where: str) -> dict[str, Any]:
    code = "invalid_contacts"
    obj = _object(raw, where, code)
    _only(obj, ("name", "birthday", "org", *_CARD_LISTS), where, code)
    name = _object(obj.get("name"), f"{where}.name", code)
    _only(name, ("formatted_name", *NAME_PARTS), f"{where}.name", code)
    card: dict[str, Any] = {
        "name": {"formatted_name": _required(name.get("formatted_name"), f"{where}.name.formatted_name", code, 512)}
    }
    for part in NAME_PARTS:
        text = _text(name.get(part), f"{where}.name.{part}", code, 256, required=False)
        if text:
            card["name"][part] = text
    if len(card["name"]) < 2:
        raise Invalid(f"{where}.name needs first_name or last_name beside formatted_name (WhatsApp requires one)", code)
    if obj.get("birthday") is not None:
        birthday = _required(obj["birthday"], f"{where}.birthday", code, 10)
        if not _BIRTHDAY.match(birthday):
            raise Invalid(f"{where}.birthday must be a date written YYYY-MM-DD", code)
        card["birthday"] = birthday
    if obj.get("org") is not None:
        org = _object(obj["org"], f"{where}.org", code)
        _only(org, _ORG, f"{where}.org", code)
        card["org"] = {k: t for k in _ORG if (t := _text(org.get(k), f"{where}.org.{k}", code, 256, required=False))}
    for key, fields in _CARD_LISTS.items():
        if obj.get(key) is None:
            continue
        items = obj[key]
        if not isinstance(items, list):
            raise Invalid(f"{where}.{key} must be a list", code)
        out = []
        for i, item in enumerate(items):
            entry = _object(item, f"{where}.{key}[{i}]", code)
            _only(entry, fields, f"{where}.{key}[{i}]", code)
            clean = {k: t for k in fields if (t := _text(entry.get(k), f"{where}.{key}[{i}].{k}", code, 256, False))}
            if fields[0] not in clean and not (key == "phones" and clean.get("wa_id")):
                raise Invalid(f"{where}.{key}[{i}].{fields[0]} is required", code)
            out.append(clean)
        if out:
            card[key] = out
    return card


def contacts(raw: Any) -> RichSend:
    """`[{"name": {"formatted_name", "first_name"?, …}, "phones"?: [...], …}]`: contact cards
    in the Cloud API's shape, at most 257."""
    if not isinstance(raw, list) or not raw:
        raise Invalid("contacts must be a list of one or more contact cards", "invalid_contacts")
    if len(raw) > MAX_CONTACTS:
        raise Invalid(f"contacts: WhatsApp sends at most {MAX_CONTACTS} contact cards at once", "invalid_contacts")
    cards = [_card(item, f"contacts[{i}]") for i, item in enumerate(raw)]
    names = ", ".join(str(c["name"]["formatted_name"]) for c in cards)
    return RichSend("contacts", cards, names, cards)


# -- interactive: reply buttons and lists ----------------------------------------------------


def _header(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    code = "invalid_interactive"
    header = _object(raw, "interactive.header", code)
    if header.get("type") != "text":
        raise Invalid('interactive.header: only a text header is supported here ({"type": "text", "text": …})', code)
    _only(header, ("type", "text"), "interactive.header", code)
    return {"type": "text", "text": _required(header.get("text"), "interactive.header.text", code, 60)}


def _footer(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    footer = _object(raw, "interactive.footer", "invalid_interactive")
    _only(footer, ("text",), "interactive.footer", "invalid_interactive")
    return {"text": _required(footer.get("text"), "interactive.footer.text", "invalid_interactive", 60)}


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise Invalid(f"interactive: two {what} are both {value!r}; each must be different", "invalid_interactive")
        seen.add(value)


def _buttons(action: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    code = "invalid_interactive"
    _only(action, ("buttons",), "interactive.action", code)
    raw = action.get("buttons")
    if not isinstance(raw, list) or not raw:
        raise Invalid("interactive.action.buttons must list 1 to 3 reply buttons", code)
    if len(raw) > MAX_BUTTONS:
        raise Invalid(
            f"interactive.action.buttons: WhatsApp shows at most {MAX_BUTTONS} reply buttons, {len(raw)} given", code
        )
    buttons = []
    for i, item in enumerate(raw):
        where = f"interactive.action.buttons[{i}]"
        button = _object(item, where, code)
        if button.get("type", "reply") != "reply":
            raise Invalid(f'{where}.type must be "reply"', code)
        reply = _object(button.get("reply"), f"{where}.reply", code)
        _only(reply, ("id", "title"), f"{where}.reply", code)
        buttons.append(
            {
                "id": _required(reply.get("id"), f"{where}.reply.id", code, 256),
                "title": _required(reply.get("title"), f"{where}.reply.title", code, 20),
            }
        )
    _unique([b["id"] for b in buttons], "button ids")
    _unique([b["title"] for b in buttons], "button titles")
    return {"buttons": [{"type": "reply", "reply": b} for b in buttons]}, buttons


def _list(action: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    code = "invalid_interactive"
    _only(action, ("button", "sections"), "interactive.action", code)
    label = _required(action.get("button"), "interactive.action.button", code, 20)
    raw = action.get("sections")
    if not isinstance(raw, list) or not raw:
        raise Invalid("interactive.action.sections must list 1 to 10 sections of rows", code)
    if len(raw) > MAX_SECTIONS:
        raise Invalid(f"interactive.action.sections: WhatsApp takes at most {MAX_SECTIONS} sections", code)
    sections: list[dict[str, Any]] = []
    ids: list[str] = []
    for i, item in enumerate(raw):
        where = f"interactive.action.sections[{i}]"
        section = _object(item, where, code)
        _only(section, ("title", "rows"), where, code)
        title = _text(section.get("title"), f"{where}.title", code, 24, required=len(raw) > 1)
        rows_raw = section.get("rows")
        if not isinstance(rows_raw, list) or not rows_raw:
            raise Invalid(f"{where}.rows must list one or more rows", code)
        rows = []
        for j, row_raw in enumerate(rows_raw):
            row_where = f"{where}.rows[{j}]"
            row = _object(row_raw, row_where, code)
            _only(row, ("id", "title", "description"), row_where, code)
            clean = {
                "id": _required(row.get("id"), f"{row_where}.id", code, 200),
                "title": _required(row.get("title"), f"{row_where}.title", code, 24),
            }
            description = _text(row.get("description"), f"{row_where}.description", code, 72, required=False)
            if description:
                clean["description"] = description
            rows.append(clean)
        ids += [r["id"] for r in rows]
        sections.append({**({"title": title} if title else {}), "rows": rows})
    total = len(ids)
    if total > MAX_ROWS:
        raise Invalid(
            f"interactive.action.sections: WhatsApp shows at most {MAX_ROWS} rows in a list, {total} given", code
        )
    _unique(ids, "row ids")
    return {"button": label, "sections": sections}, sections, label


def interactive(raw: Any) -> RichSend:
    """`{"type": "button" | "list", "body": {"text"}, "action": {...}, "header"?, "footer"?}`."""
    code = "invalid_interactive"
    obj = _object(raw, "interactive", code)
    kind = obj.get("type")
    if kind not in ("button", "list"):
        raise Invalid('interactive.type must be "button" (reply buttons) or "list"', code)
    _only(obj, ("type", "header", "body", "footer", "action"), "interactive", code)
    body_obj = _object(obj.get("body"), "interactive.body", code)
    _only(body_obj, ("text",), "interactive.body", code)
    text = _required(body_obj.get("text"), "interactive.body.text", code, 1024 if kind == "button" else 4096)
    action = _object(obj.get("action"), "interactive.action", code)
    graph: dict[str, Any] = {"type": kind}
    data: dict[str, Any] = {"kind": kind, "body": text}
    header, footer = _header(obj.get("header")), _footer(obj.get("footer"))
    if header:
        graph["header"] = header
        data["header"] = header["text"]
    graph["body"] = {"text": text}
    if footer:
        graph["footer"] = footer
        data["footer"] = footer["text"]
    if kind == "button":
        graph["action"], data["buttons"] = _buttons(action)
    else:
        graph["action"], data["sections"], data["button"] = _list(action)
    return RichSend("interactive", graph, text, data)
