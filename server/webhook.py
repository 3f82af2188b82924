"""Meta's webhook: the verification handshake, the signature check, and the body parsed
into plain records for the store.

Parsing is pure (no I/O) so every shape Meta sends can be tested in isolation; anything not
understood is reported back, and the raw body is kept either way.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from . import signature, template_status
from .errors import BadRequest, Forbidden, TooLarge, Unauthenticated, Unavailable
from .phones import from_wa_id
from .sanitize import storable
from .services import services
from .shapes import as_list, as_object
from .whatsapp import error_object

log = logging.getLogger(__name__)

LARGE_BODY = 256 * 1024
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
STATUSES = ("sent", "delivered", "read", "failed")
# Statuses we deliberately do not track (a voice note was played): handled, ignored.
IGNORED_STATUSES = ("played",)
# Fields of a WhatsApp Business Account webhook other than messages (template reviews,
# account updates, …): the body is handled and deliberately ignored, never "not processed".
# What a system event without a `body` says in the thread.
SYSTEM_TEXT = {
    "user_changed_user_id": "The customer's WhatsApp user id changed",
    "user_changed_number": "The customer changed their phone number",
    "customer_identity_changed": "The customer's identity changed",
}
IGNORED_FIELD = "field {field!r} is ignored: this inbox handles messages only"


@dataclass
class Sender:
    phone: str | None  # E.164, or None when Meta sent only a user id
    user_id: str | None
    name: str | None


@dataclass
class Inbound:
    wamid: str
    sender: Sender
    type: str
    content: str
    timestamp_ms: int
    media: dict[str, Any] | None = None
    data: Any = None
    reply_to: str | None = None
    error: dict[str, Any] | None = None
    business_number_id: str | None = None  # metadata.phone_number_id: which of our numbers it came to


@dataclass
class Reaction:
    wamid: str
    sender: Sender
    target_wamid: str
    emoji: str  # "" removes the reaction
    timestamp_ms: int


@dataclass
class Status:
    wamid: str
    status: str
    timestamp_ms: int
    recipient: Sender
    error: dict[str, Any] | None = None


@dataclass
class Parsed:
    inbound: list[Inbound] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # value.errors[]: about the account
    not_understood: list[str] = field(default_factory=list)
    # What was read and deliberately ignored (other fields, `played` statuses): handled.
    ignored: list[str] = field(default_factory=list)
    # Items that could not be parsed, with the reason: kept for admins (server/ingest.py).
    failed: list[tuple[Any, str]] = field(default_factory=list)
    template_statuses: list[template_status.TemplateStatus] = field(default_factory=list)


class UnknownShape(ValueError):
    """The JSON is not a WhatsApp Business Account webhook."""


def _ms(ts: Any) -> int:
    try:
        return int(float(ts) * 1000)
    except (TypeError, ValueError):
        return int(time.time() * 1000)


def _first_error(errors: Any) -> dict[str, Any] | None:
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    e = errors[0]
    details = e.get("error_data", {}).get("details") if isinstance(e.get("error_data"), dict) else None
    return error_object(e.get("code"), e.get("title") or e.get("message"), details or e.get("message"))


def parse(body: Any) -> Parsed:
    """Every message, reaction, status and error in one webhook body."""
    body = storable(body)
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        raise UnknownShape("not a webhook body: expected an object with an 'entry' list")
    if body.get("object") not in (None, "whatsapp_business_account"):
        raise UnknownShape(f"unexpected object {body.get('object')!r}")
    out = Parsed()
    for entry in body["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            out.not_understood.append("entry without changes")
            continue
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                out.not_understood.append("change without value")
                continue
            if change.get("field") == template_status.FIELD:  # a template approved, paused, …
                try:
                    out.template_statuses.append(template_status.parse(change["value"]))
                except ValueError as exc:
                    out.ignored.append(f"{exc}: ignored")
                continue
            if change.get("field", "messages") != "messages":
                out.ignored.append(IGNORED_FIELD.format(field=change.get("field")))
                continue
            _parse_value(change["value"], out)
    return out


def _number_id(value: dict[str, Any]) -> str | None:
    metadata = as_object(value.get("metadata"))
    number_id = metadata.get("phone_number_id")
    return str(number_id) if isinstance(number_id, (str, int)) and str(number_id) else None


def _parse_value(value: dict[str, Any], out: Parsed) -> None:
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    number_id = _number_id(value)
    for err in value.get("errors") or []:
        if isinstance(err, dict):
            out.errors.append(err)
    for msg in value.get("messages") or []:
        if not isinstance(msg, dict) or not msg.get("id"):
            out.not_understood.append("message without id")
            continue
        try:
            _parse_message(msg, contacts, out, number_id)
        except (AttributeError, TypeError, ValueError, KeyError, OverflowError) as exc:
            out.failed.append((msg, f"message {msg.get('id')} could not be read: {type(exc).__name__}: {exc}"))
    for st in value.get("statuses") or []:
        if not isinstance(st, dict) or not st.get("id") or not st.get("status"):
            out.not_understood.append("status without id or status")
            continue
        status = str(st["status"]).lower()
        if status in IGNORED_STATUSES:
            out.ignored.append(f"status {status!r} of {st['id']} is ignored")
            continue
        if status not in STATUSES:
            out.not_understood.append(f"status {status!r} is not handled")
            continue
        try:
            parsed = Status(
                wamid=str(st["id"]),
                status=status,
                timestamp_ms=_ms(st.get("timestamp")),
                recipient=Sender(from_wa_id(st.get("recipient_id")), st.get("recipient_user_id"), None),
                error=_first_error(st.get("errors")),
            )
        except (AttributeError, TypeError, ValueError, KeyError, OverflowError) as exc:
            out.failed.append((st, f"status of {st.get('id')} could not be read: {type(exc).__name__}: {exc}"))
            continue
        out.statuses.append(parsed)


def _sender(msg: dict[str, Any], contacts: list[dict[str, Any]]) -> Sender:
    phone = from_wa_id(msg.get("from"))
    user_id = msg.get("from_user_id") or None
    name = None
    for c in contacts:
        same_phone = phone and from_wa_id(c.get("wa_id")) == phone
        same_user = user_id and c.get("user_id") == user_id
        if same_phone or same_user or len(contacts) == 1:
            name = (c.get("profile") or {}).get("name") or name
            user_id = user_id or c.get("user_id") or None
            if same_phone or same_user:
                break
    return Sender(phone, user_id, name)


def _parse_message(
    msg: dict[str, Any], contacts: list[dict[str, Any]], out: Parsed, number_id: str | None = None
) -> None:
    mtype = str(msg.get("type") or "unknown")
    sender = _sender(msg, contacts)
    ts = _ms(msg.get("timestamp"))
    if mtype == "reaction":
        reaction = msg.get("reaction") or {}
        out.reactions.append(
            Reaction(str(msg["id"]), sender, str(reaction.get("message_id") or ""), reaction.get("emoji") or "", ts)
        )
        return
    content, media, data = _content(mtype, msg)
    context = as_object(msg.get("context"))
    if context.get("forwarded") or context.get("frequently_forwarded"):
        data = {**(data or {}), "forwarded": True} if isinstance(data, dict) or data is None else data
    if msg.get("referral"):
        data = {**(data or {}), "referral": msg["referral"]} if isinstance(data, dict) or data is None else data
    out.inbound.append(
        Inbound(
            wamid=str(msg["id"]),
            sender=sender,
            type=mtype,
            content=content,
            timestamp_ms=ts,
            media=media,
            data=data,
            reply_to=context.get("id") or None,
            error=_first_error(msg.get("errors")),
            business_number_id=number_id,
        )
    )


def _content(mtype: str, msg: dict[str, Any]) -> tuple[str, dict[str, Any] | None, Any]:
    """(text to show and search, media object, type-specific data) for one message."""
    body = as_object(msg.get(mtype))
    if mtype == "text":
        return str(body.get("body") or ""), None, None
    if mtype in MEDIA_TYPES:
        media: dict[str, Any] = {
            "id": body.get("id"),
            "mimeType": body.get("mime_type"),
            "sha256": body.get("sha256"),
            "caption": body.get("caption"),
            "filename": body.get("filename"),
        }
        for extra in ("voice", "animated"):
            if extra in body:
                media[extra] = bool(body[extra])
        return str(body.get("caption") or body.get("filename") or ""), media, None
    if mtype == "location":
        data = {k: body.get(k) for k in ("latitude", "longitude", "name", "address", "url")}
        text = body.get("name") or body.get("address") or f"{body.get('latitude')}, {body.get('longitude')}"
        return str(text), None, data
    if mtype == "contacts":
        cards = as_list(msg.get("contacts"))
        names = [str((c.get("name") or {}).get("formatted_name") or "") for c in cards if isinstance(c, dict)]
        return ", ".join(n for n in names if n), None, cards
    if mtype == "interactive":
        kind = str(body.get("type") or "")
        reply = as_object(body.get(kind))
        data = {"kind": kind, **reply}
        if kind == "nfm_reply":  # a Flow's answers: shown, not the Flow's "Sent"
            answers = flow_answers(reply.get("response_json"))
            data["answers"] = answers
            text = "\n".join(f"{k}: {v}" for k, v in answers.items())
            return text or str(reply.get("body") or ""), None, data
        return str(reply.get("title") or reply.get("body") or ""), None, data
    if mtype in ("edit", "revoke"):
        original = str(body.get("original_message_id") or "")
        if mtype == "revoke":
            return "", None, {"originalWamid": original}
        inner = as_object(body.get("message"))
        inner_type = str(inner.get("type") or "text")
        content, inner_media, inner_data = _content(inner_type, inner)
        return content, inner_media, {"originalWamid": original, "type": inner_type, "data": inner_data}
    if mtype == "button":
        return str(body.get("text") or ""), None, {"payload": body.get("payload"), "text": body.get("text")}
    if mtype == "order":
        items = as_list(body.get("product_items"))
        return str(body.get("text") or f"Order of {len(items)} item(s)"), None, body
    if mtype == "system":
        return str(body.get("body") or SYSTEM_TEXT.get(str(body.get("type")), "")), None, body
    # unsupported, unknown and future types: keep everything Meta sent.
    return "", None, msg


def flow_answers(response_json: Any) -> dict[str, str]:
    """A Flow reply's answers by a readable label ("delivery_rating" -> "Delivery rating"),
    without the flow token, which means nothing to a person."""
    try:
        answers = json.loads(response_json) if isinstance(response_json, str) else response_json
    except ValueError:
        return {}
    if not isinstance(answers, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in answers.items():
        if key == "flow_token" or value in (None, ""):
            continue
        label = str(key).replace("_", " ").strip().capitalize()
        out[label] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


# -- HTTP endpoints ------------------------------------------------------------------------


async def verify_subscription(request: Request) -> Response:
    """GET /webhook: Meta's hub.challenge handshake when the webhook URL is saved."""
    settings = services(request).settings
    params = request.query_params
    if not settings.whatsapp_verify_token:
        raise Unavailable("WHATSAPP_VERIFY_TOKEN is not set on the server", "not_configured")
    if params.get("hub.mode") != "subscribe" or "hub.challenge" not in params:
        raise BadRequest("expected hub.mode=subscribe and hub.challenge", "invalid_verification")
    given = params.get("hub.verify_token", "").encode()
    # Constant-time: the time a wrong guess takes says nothing about how much of it matched.
    if not hmac.compare_digest(given, settings.whatsapp_verify_token.encode()):
        log.warning("webhook verification rejected: wrong verify token")
        raise Forbidden("verify token does not match WHATSAPP_VERIFY_TOKEN", "wrong_verify_token")
    log.info("webhook verification accepted")
    # Echoed as plain text the browser must not sniff: a challenge of `<script>…` stays text.
    return PlainTextResponse(params["hub.challenge"], headers={"X-Content-Type-Options": "nosniff"})


async def receive(request: Request) -> Response:
    """POST /webhook: check the signature on the raw bytes, commit them, then acknowledge.

    The body is stored before it is parsed (server/ingest.py), so nothing it contains can
    lose it. The answer waits a moment (WEBHOOK_APPLY_WAIT) for the body to be applied, so a
    quiet server acknowledges what it has already applied; under a burst it answers as soon
    as the raw body is committed and the applier catches up."""
    settings = services(request).settings
    ingest = services(request).ingest
    if not settings.whatsapp_app_secret:
        log.error("webhook rejected: WHATSAPP_APP_SECRET is not set")
        raise Unavailable("WHATSAPP_APP_SECRET is not set on the server", "not_configured")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.webhook_max_bytes:
        raise TooLarge("webhook body too large")
    raw = await request.body()
    if len(raw) > settings.webhook_max_bytes:
        raise TooLarge("webhook body too large")
    given = request.headers.get("x-hub-signature-256")
    if len(raw) > LARGE_BODY:  # hashing megabytes releases the GIL: let a thread do it
        valid = await asyncio.to_thread(signature.verify, settings.whatsapp_app_secret, raw, given)
    else:
        valid = signature.verify(settings.whatsapp_app_secret, raw, given)
    if not valid:
        log.warning("webhook rejected: missing or wrong X-Hub-Signature-256 (%d bytes)", len(raw))
        raise Unauthenticated("missing or invalid X-Hub-Signature-256", "invalid_signature")
    event_id = await ingest.keep(raw)
    result = await ingest.applied(event_id, settings.webhook_apply_wait)
    if result is not None and result.not_json:
        log.warning("webhook event %s: signed body is not JSON (%d bytes), kept", event_id, len(raw))
        raise BadRequest("body is not JSON", "invalid_json")
    log.info("webhook accepted: event %s, %s", event_id, result.summary() if result else "stored, applying")
    return JSONResponse({"ok": True})
