"""The parts of a template beyond its body text: a media header (image, video, document),
the footer, and buttons that take a parameter when sent (a URL's suffix, a coupon code, a
quick reply's payload).

Read from the template's `components` as Meta lists them, so the dashboard can show exactly
what the customer will see, and turned into the send's `components` the way Meta documents
them: `{"type": "header", "parameters": [{"type": "image", "image": {"link": …}}]}`,
`{"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", …}]}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from .errors import Invalid

MEDIA_HEADERS = ("IMAGE", "VIDEO", "DOCUMENT")
MAX_COUPON = 15  # Meta: a copy-code button's code is at most 15 characters
MAX_PAYLOAD = 1000
MAX_URL_SUFFIX = 2000
CODE = "invalid_template_parameters"


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in components if str(c.get("type") or "").upper() == kind), None)


def header_format(components: list[dict[str, Any]]) -> str | None:
    header = _component(components, "HEADER")
    return str(header.get("format") or "TEXT").upper() if header else None


def header_example(components: list[dict[str, Any]]) -> str | None:
    """The sample file Meta reviewed with a media header (a link), for the preview."""
    header = _component(components, "HEADER") or {}
    example = header.get("example") if isinstance(header.get("example"), dict) else {}
    handles = example.get("header_handle") if isinstance(example, dict) else None
    if isinstance(handles, list) and handles and isinstance(handles[0], str) and handles[0].startswith("http"):
        return handles[0]
    return None


def footer(components: list[dict[str, Any]]) -> str | None:
    part = _component(components, "FOOTER")
    return str(part.get("text") or "") or None if part else None


def _parameter_of(button: dict[str, Any]) -> str | None:
    """What a button asks for at send time: a URL suffix for a URL with {{1}}, a coupon code
    for copy-code, an optional payload for a quick reply; nothing for the others."""
    kind = str(button.get("type") or "").upper()
    if kind == "URL" and "{{" in str(button.get("url") or ""):
        return "urlSuffix"
    if kind == "COPY_CODE":
        return "couponCode"
    if kind == "QUICK_REPLY":
        return "payload"
    return None


def buttons(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The template's buttons as the dashboard shows and fills them."""
    part = _component(components, "BUTTONS") or {}
    out = []
    for index, button in enumerate(b for b in part.get("buttons") or [] if isinstance(b, dict)):
        parameter = _parameter_of(button)
        view: dict[str, Any] = {
            "index": index,
            "type": str(button.get("type") or "").upper(),
            "text": str(button.get("text") or ""),
            "parameter": parameter,
            "required": parameter in ("urlSuffix", "couponCode"),
        }
        if button.get("url"):
            view["url"] = str(button["url"])
        if button.get("phone_number"):
            view["phoneNumber"] = str(button["phone_number"])
        out.append(view)
    return out


def media_header(fmt: str, raw: Any, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Meta's header component, what is stored) for a media header given by link:
    `{"link": "https://…", "filename"?}`."""
    kind = fmt.lower()
    if not isinstance(raw, dict) or not raw.get("link"):
        raise Invalid(
            f"{what} has {'an' if kind[0] in 'aeiou' else 'a'} {kind} header: give template.header.link "
            f"(an https address of the {kind}) or upload the file",
            CODE,
        )
    unknown = [k for k in raw if k not in ("type", "link", "filename")]
    if unknown:
        raise Invalid(f"{what} header: unknown field(s) {', '.join(unknown)}; it takes link and filename", CODE)
    if raw.get("type") not in (None, kind):
        raise Invalid(f"{what} has {'an' if kind[0] in 'aeiou' else 'a'} {kind} header, not {raw['type']}", CODE)
    link = raw["link"]
    parsed = urlparse(link) if isinstance(link, str) else None
    if parsed is None or parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise Invalid(f"{what} header: link must be an http(s) address WhatsApp can download", CODE)
    media: dict[str, Any] = {"link": link}
    if kind == "document" and raw.get("filename"):
        if not isinstance(raw["filename"], str):
            raise Invalid(f"{what} header: filename must be text", CODE)
        media["filename"] = raw["filename"].strip()[:200]
    component = {"type": "header", "parameters": [{"type": kind, kind: media}]}
    return component, {"type": kind, **media}


def uploaded_header(kind: str, media_id: str, filename: str | None) -> dict[str, Any]:
    """The header component for a file uploaded to Meta just before the send."""
    media: dict[str, Any] = {"id": media_id}
    if kind == "document" and filename:
        media["filename"] = filename
    return {"type": "header", "parameters": [{"type": kind, kind: media}]}


def with_header(template: dict[str, Any], component: dict[str, Any]) -> dict[str, Any]:
    """Meta's template object with the header component first, as Meta orders them."""
    return {**template, "components": [component, *template.get("components", [])]}


def button_parameters(
    defined: list[dict[str, Any]], raw: Any, what: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Meta's button components, the buttons as the customer sees them) from
    `buttonParameters`: a list in the template's button order (or an object by index) of the
    URL suffix, coupon code or quick-reply payload; null where a button takes none."""
    if raw is None:
        raw = []
    if isinstance(raw, dict):
        try:
            by_index = {int(k): v for k, v in raw.items()}
        except ValueError:
            raise Invalid(f"{what}: buttonParameters are keyed by the button's index (0, 1, …)", CODE) from None
    elif isinstance(raw, list):
        by_index = dict(enumerate(raw))
    else:
        raise Invalid(f"{what}: buttonParameters must be a list, one entry per button", CODE)
    extra = [i for i in by_index if not 0 <= i < len(defined)]
    if extra:
        raise Invalid(f"{what} has {len(defined)} button(s): there is no button {extra[0]}", CODE)
    components: list[dict[str, Any]] = []
    shown: list[dict[str, Any]] = []
    for button in defined:
        index, parameter, value = button["index"], button["parameter"], by_index.get(button["index"])
        where = f"{what} button {index} ({button['text'] or button['type']})"
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise Invalid(f"{where}: the parameter must be text", CODE)
        text = str(value).strip() if value is not None else ""
        seen: dict[str, Any] = {"type": button["type"], "text": button["text"]}
        if parameter is None:
            if text:
                raise Invalid(f"{where} takes no parameter", CODE)
        elif not text:
            if button["required"]:
                needed = "the end of its URL" if parameter == "urlSuffix" else "the code to copy"
                raise Invalid(f"{where} needs {needed}", CODE)
        elif parameter == "couponCode" and len(text) > MAX_COUPON:
            raise Invalid(f"{where}: WhatsApp takes codes of at most {MAX_COUPON} characters", CODE)
        elif len(text) > (MAX_PAYLOAD if parameter == "payload" else MAX_URL_SUFFIX):
            raise Invalid(f"{where}: the parameter is too long", CODE)
        if text:
            sub_type, param = {
                "urlSuffix": ("url", {"type": "text", "text": text}),
                "couponCode": ("copy_code", {"type": "coupon_code", "coupon_code": text}),
                "payload": ("quick_reply", {"type": "payload", "payload": text}),
            }[str(parameter)]
            components.append({"type": "button", "sub_type": sub_type, "index": str(index), "parameters": [param]})
            seen["parameter"] = text
        if button.get("url"):
            seen["url"] = button["url"].replace("{{1}}", text) if text else button["url"]
        shown.append(seen)
    return components, shown
