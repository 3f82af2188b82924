"""The stand-in's checks of message bodies beyond text and plain media: locations, contact
cards, interactive messages and voice notes, refused the way the Cloud API refuses them
(`(#100)` for a missing parameter, `(#131009) Parameter value is not valid` for a bad one),
so a test can see that our server never sends what Meta would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: int
    details: str


def _missing(name: str) -> Refusal:
    return Refusal(400, "(#100) Invalid parameter", 100, f"The parameter {name} is required.")


def _invalid(details: str) -> Refusal:
    return Refusal(400, "(#131009) Parameter value is not valid", 131009, details)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_location(obj: Any) -> Refusal | None:
    if not isinstance(obj, dict):
        return _missing("location")
    for key, bound in (("latitude", 90.0), ("longitude", 180.0)):
        if key not in obj:
            return _missing(f"location['{key}']")
        number = _number(obj[key])
        if number is None or not -bound <= number <= bound:
            return _invalid(f"location['{key}'] must be a number between -{bound:g} and {bound:g}.")
    return None


def check_contacts(items: Any) -> Refusal | None:
    if not isinstance(items, list) or not items:
        return _missing("contacts")
    for i, card in enumerate(items):
        name = card.get("name") if isinstance(card, dict) else None
        if not isinstance(name, dict) or not name.get("formatted_name"):
            return _missing(f"contacts[{i}]['name']['formatted_name']")
        if not any(name.get(k) for k in ("first_name", "last_name", "middle_name", "suffix", "prefix")):
            return _invalid(
                f"contacts[{i}]['name'] needs at least one of first_name, last_name, middle_name, suffix, prefix."
            )
    return None


def check_interactive(obj: Any) -> Refusal | None:
    if not isinstance(obj, dict) or obj.get("type") not in ("button", "list"):
        return _missing("interactive['type']")
    body = obj.get("body")
    if not isinstance(body, dict) or not body.get("text"):
        return _missing("interactive['body']['text']")
    action = obj.get("action")
    if not isinstance(action, dict):
        return _missing("interactive['action']")
    if obj["type"] == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not buttons:
            return _missing("interactive['action']['buttons']")
        if len(buttons) > 3:
            return _invalid("Buttons count invalid. Min: 1, Max: 3.")
        for b in buttons:
            reply = b.get("reply") if isinstance(b, dict) else None
            if not isinstance(reply, dict) or not reply.get("id") or not reply.get("title"):
                return _missing("interactive['action']['buttons'][]['reply']")
            if len(str(reply["title"])) > 20:
                return _invalid("Button title length invalid. Min length: 1, Max length: 20.")
        return None
    if not action.get("button"):
        return _missing("interactive['action']['button']")
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        return _missing("interactive['action']['sections']")
    rows = [r for s in sections if isinstance(s, dict) for r in (s.get("rows") or [])]
    if not rows or len(rows) > 10:
        return _invalid("Total row count exceed max allowed count: 10.")
    if len(sections) > 1 and not all(isinstance(s, dict) and s.get("title") for s in sections):
        return _invalid("Section title is required when there is more than one section.")
    return None


def check_audio(obj: Any, media: dict[str, dict[str, Any]]) -> Refusal | None:
    """A voice note (`voice: true`) must be an OGG file: Meta only plays those as voice notes."""
    if not isinstance(obj, dict) or "voice" not in obj:
        return None
    if not isinstance(obj["voice"], bool):
        return _invalid("audio['voice'] must be a boolean.")
    item = media.get(str(obj.get("id"))) if obj.get("id") else None
    if obj["voice"] and item is not None and not str(item.get("mime_type", "")).startswith("audio/ogg"):
        return _invalid("A voice message must be an OGG file encoded with the OPUS codec.")
    return None


def check(
    body: dict[str, Any], media: dict[str, dict[str, Any]], templates: list[dict[str, Any]] | None = None
) -> Refusal | None:
    """The refusal Meta would answer for this message body, or None when it would take it."""
    kind = body.get("type")
    if kind == "template":
        return check_template(body.get("template"), templates or [], media)
    if kind == "location":
        return check_location(body.get("location"))
    if kind == "contacts":
        return check_contacts(body.get("contacts"))
    if kind == "interactive":
        return check_interactive(body.get("interactive"))
    if kind == "audio":
        return check_audio(body.get("audio"), media)
    return None


def _template_refusal(code: int, title: str, details: str, status: int = 400) -> Refusal:
    return Refusal(status, f"(#{code}) {title}", code, details)


def check_template(obj: Any, templates: list[dict[str, Any]], media: dict[str, dict[str, Any]]) -> Refusal | None:
    """A media header needs its file (an uploaded id or a link) of the header's type; a URL
    button with {{1}} needs its suffix, a copy-code button its code (Meta's 132012/131008)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("language"), dict):
        return None  # the stand-in's own template check answers these
    found = next(
        (t for t in templates if t["name"] == obj.get("name") and t["language"] == obj["language"].get("code")), None
    )
    if found is None:
        return None
    given = [c for c in obj.get("components") or [] if isinstance(c, dict)]
    for comp in found.get("components") or []:
        kind = str(comp.get("type", "")).upper()
        if kind == "HEADER" and str(comp.get("format", "TEXT")).upper() in ("IMAGE", "VIDEO", "DOCUMENT"):
            fmt = str(comp["format"]).lower()
            header = next((c for c in given if str(c.get("type")).lower() == "header"), None)
            params = header.get("parameters") if header else None
            param = params[0] if isinstance(params, list) and params and isinstance(params[0], dict) else {}
            file = param.get(fmt) if param.get("type") == fmt else None
            if not isinstance(file, dict) or not (file.get("id") or file.get("link")):
                return _template_refusal(
                    132012,
                    "Parameter format does not match format in the created template",
                    f"header: Format mismatch, expected {fmt.upper()}, received {param.get('type') or 'nothing'}",
                )
            if file.get("id") and str(file["id"]) not in media:
                return _template_refusal(131053, "Media upload error", f"Unknown media id {file['id']}.")
        if kind == "BUTTONS":
            for index, button in enumerate(comp.get("buttons") or []):
                btype = str(button.get("type", "")).upper()
                needs = (btype == "URL" and "{{" in str(button.get("url", ""))) or btype == "COPY_CODE"
                if not needs:
                    continue
                sub_type = "url" if btype == "URL" else "copy_code"
                match = next(
                    (
                        c
                        for c in given
                        if str(c.get("type")).lower() == "button"
                        and c.get("sub_type") == sub_type
                        and str(c.get("index")) == str(index)
                        and c.get("parameters")
                    ),
                    None,
                )
                if match is None:
                    return _template_refusal(
                        131008, "Required parameter is missing", f"buttons[{index}]: a {sub_type} parameter is required"
                    )
    return None
