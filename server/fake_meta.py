"""A stand-in for Meta's WhatsApp Cloud (Graph) API, served over real HTTP on loopback.

Tests and the demo point WHATSAPP_API_BASE at it instead of graph.facebook.com. It answers
sends the way Meta does, then posts signed status webhooks back to our server, and it has
`/simulate/...` endpoints to inject inbound messages, failures and odd timing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import fake_meta_checks
from server.emoji import is_reaction_emoji
from server.signature import sign

log = logging.getLogger("fake_meta")

ERROR_CODES_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# code -> (title, details) as Meta words them, for the failures tests inject most.
ERROR_TITLES: dict[int, tuple[str, str]] = {
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient "
        "phone number in a short period of time.",
    ),
    190: ("Invalid OAuth access token", "Invalid OAuth access token."),
    131026: ("Message Undeliverable", "Unable to deliver message."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    132000: (
        "Number of parameters does not match the expected number of params",
        "The number of variable parameter values included in the request did not "
        "match the number of variable parameters defined in the template.",
    ),
    132001: (
        "Template name does not exist in the translation",
        "The template does not exist in the specified language or the template has not been approved.",
    ),
    132015: ("Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
}

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
MEDIA_URL_LIFETIME = 300  # seconds a download URL works, as at Meta


def default_templates() -> list[dict[str, Any]]:
    """The account's templates as Meta lists them: two pages at the default page size."""
    return [
        {
            "name": "hello_world",
            "language": "en_US",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": "900000000000001",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {
                    "type": "BODY",
                    "text": "Welcome and congratulations!! This message demonstrates your "
                    "ability to send a WhatsApp message notification from the Cloud API, "
                    "hosted by Meta. Thank you for taking the time to test with us.",
                },
                {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
            ],
        },
        {
            "name": "order_update",
            "language": "en",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": "900000000000002",
            "parameter_format": "POSITIONAL",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, your order {{2}} has shipped and is on its way.",
                    "example": {"body_text": [["Asha", "#1042"]]},
                }
            ],
        },
        {
            "name": "order_update",
            "language": "sw",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": "900000000000003",
            "parameter_format": "POSITIONAL",
            "components": [
                {
                    "type": "BODY",
                    "text": "Habari {{1}}, oda yako {{2}} imetumwa.",
                    "example": {"body_text": [["Asha", "#1042"]]},
                }
            ],
        },
        {
            "name": "appointment_reminder",
            "language": "en",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": "900000000000004",
            "parameter_format": "POSITIONAL",
            "components": [
                {
                    "type": "HEADER",
                    "format": "TEXT",
                    "text": "Reminder for {{1}}",
                    "example": {"header_text": ["Asha"]},
                },
                {
                    "type": "BODY",
                    "text": "Your appointment is on {{1}} at {{2}}. Reply to change it.",
                    "example": {"body_text": [["Monday", "10:00"]]},
                },
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirm"}]},
            ],
        },
        {
            "name": "spring_sale",
            "language": "en",
            "status": "PENDING",
            "category": "MARKETING",
            "id": "900000000000005",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "BODY", "text": "Our spring sale starts {{1}}!", "example": {"body_text": [["tomorrow"]]}}
            ],
        },
    ]


def _placeholder_count(text: str | None) -> int:
    return len(set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", text or "")))


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())


_RATE_LIMIT_CODES = {130429, 131056, 4, 80007}
_SERVER_ERROR_CODES = {1, 2, 131000}
_WAMID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def new_wamid() -> str:
    """A unique id shaped like Meta's (`wamid.` + 40 base64-ish chars)."""
    return "wamid." + "".join(secrets.choice(_WAMID_ALPHABET) for _ in range(40))


def _fbtrace_id() -> str:
    return secrets.token_urlsafe(8)[:11]


def http_status_for(code: int) -> int:
    """The HTTP status Meta pairs with an error code."""
    if code == 190:
        return 401
    if code in _RATE_LIMIT_CODES:
        return 429
    if code in _SERVER_ERROR_CODES:
        return 500
    return 400


def error_title(code: int) -> tuple[str, str]:
    """(title, details) for a code, with a generic fallback for codes not in the table."""
    return ERROR_TITLES.get(code, (f"Error {code}", f"Simulated error {code}."))


def _graph_error(status: int, message: str, code: int, **extra: Any) -> JSONResponse:
    error = {"message": message, "type": "OAuthException", "code": code, **extra, "fbtrace_id": _fbtrace_id()}
    return JSONResponse({"error": error}, status_code=status)


def _default_config(status_delay: float) -> dict[str, Any]:
    # sendDelay: seconds a send (or mark-read) takes to be answered; sendAnswer: "ok", or
    # "not-json" / "no-wamid" (a 200 that does not say which message was taken).
    return {
        "statusDelay": status_delay,
        "autoRead": True,
        "skipDelivered": False,
        "statusesBeforeResponse": False,
        "sendDelay": 0,
        "sendAnswer": "ok",
    }


class FakeMeta:
    """State and config of one stand-in server; `app` is its ASGI app."""

    def __init__(
        self,
        webhook_url: str,
        app_secret: str,
        access_token: str | None = None,
        phone_number_id: str = "1000000001",
        display_phone_number: str = "15550001111",
        waba_id: str = "2000000002",
        status_delay: float = 0.05,
        second_phone_number_id: str = "1000000002",
        second_display_phone_number: str = "15550002222",
    ) -> None:
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        # The business numbers of this app (a Meta app may have several): id -> display number.
        self.numbers = {phone_number_id: display_phone_number, second_phone_number_id: second_display_phone_number}
        self.sent_from: dict[str, str] = {}  # wamid -> the number it was sent from
        self.waba_id = waba_id
        self.default_status_delay = status_delay
        self.config: dict[str, Any] = _default_config(status_delay)
        self.requests: list[dict[str, Any]] = []  # every call to /messages, in order
        self.failures: list[dict[str, Any]] = []  # one entry per send call to fail
        self.failures_to: dict[str, list[dict[str, Any]]] = {}  # by wa_id: the next sends to that number
        self.marked_read: list[str] = []  # wamids our server marked as read
        self.typing: list[str] = []  # wamids a typing indicator was shown on
        # wamids of the messages this conversation holds at Meta (customers' and ours): what a
        # reaction, a quote or a typing indicator may point at.
        self.known_wamids: set[str] = set()
        # Media: registered files by media id, uploads received, media lookups/downloads
        # (kept apart from `requests`, which stays the list of /messages calls).
        self.media: dict[str, dict[str, Any]] = {}
        self.media_failures: list[dict[str, Any]] = []  # one entry per media fetch to fail
        self.uploads: list[dict[str, Any]] = []
        self.media_requests: list[dict[str, Any]] = []
        self.templates: list[dict[str, Any]] = default_templates()
        self.template_page_size = 3
        self.template_requests: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.app = Starlette(
            routes=self._routes(),
            lifespan=self._lifespan,
            exception_handlers={ValueError: _bad_request, KeyError: _bad_request, TypeError: _bad_request},
        )

    def _routes(self) -> list[Route]:
        return [
            Route("/simulate/fail", self._sim_fail, methods=["POST"]),
            Route("/simulate/config", self._sim_config, methods=["POST"]),
            Route("/simulate/inbound", self._sim_inbound, methods=["POST"]),
            Route("/simulate/status", self._sim_status, methods=["POST"]),
            Route("/simulate/webhook", self._sim_webhook, methods=["POST"]),
            Route("/simulate/requests", self._sim_requests, methods=["GET"]),
            Route("/simulate/reset", self._sim_reset, methods=["POST"]),
            Route("/simulate/media", self._sim_media, methods=["POST"]),
            Route("/simulate/media-fail", self._sim_media_fail, methods=["POST"]),
            Route("/simulate/uploads", self._sim_uploads, methods=["GET"]),
            Route("/simulate/templates", self._sim_templates, methods=["POST"]),
            Route("/simulate/template-status", self._sim_template_status, methods=["POST"]),
            Route("/{version}/{phone_id}/messages", self._messages, methods=["POST"]),
            Route("/{phone_id}/messages", self._messages, methods=["POST"]),
            Route("/{version}/{phone_id}/media", self._upload, methods=["POST"]),
            Route("/{version}/{waba_id}/message_templates", self._message_templates, methods=["GET"]),
            Route("/whatsapp_business/attachments/", self._download, methods=["GET"]),
            Route("/{version}/{media_id}", self._media_url, methods=["GET"]),
        ]

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            self._client = client
            try:
                yield
            finally:
                await self.cancel_tasks()
                self._client = None

    # ---- webhooks out -------------------------------------------------------------

    def _known(self, wamid: str) -> str:
        self.known_wamids.add(wamid)
        return wamid

    def metadata(self, number_id: str | None = None) -> dict[str, str]:
        """The `metadata` block Meta puts in every webhook value for one of our numbers (the
        first by default). A number this app does not have is used as given (for tests)."""
        number_id = number_id or self.phone_number_id
        return {"display_phone_number": self.numbers.get(number_id, "15550009999"), "phone_number_id": number_id}

    def envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        """Meta's outer webhook shape around one `messages` change."""
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"field": "messages", "value": value}]}],
        }

    async def post_webhook(self, value: dict[str, Any]) -> int:
        """Wrap, sign and POST `value` to our server; the HTTP status, or 0 if unreachable."""
        return await self.post_envelope(self.envelope(value))

    async def post_envelope(self, payload: dict[str, Any]) -> int:
        """Sign and POST a whole webhook body, serialised compactly and ASCII-escaped like Meta."""
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature-256": sign(self.app_secret, body),
        }
        try:
            if self._client is not None:
                response = await self._client.post(self.webhook_url, content=body, headers=headers)
            else:  # used outside the lifespan, e.g. straight from a test
                async with httpx.AsyncClient(timeout=10.0) as client:
                    response = await client.post(self.webhook_url, content=body, headers=headers)
        except Exception as exc:  # our server down or misconfigured: report, never crash
            log.warning("webhook POST to %s failed: %r", self.webhook_url, exc)
            return 0
        if response.status_code >= 300:
            log.warning("webhook POST to %s answered %s", self.webhook_url, response.status_code)
        return response.status_code

    def status_value(
        self,
        wamid: str,
        status: str,
        recipient: str,
        errors: list[dict[str, Any]] | None = None,
        timestamp: int | None = None,
    ) -> dict[str, Any]:
        """A webhook value carrying one status update, as Meta shapes it."""
        entry: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(timestamp or int(time.time())),
            "recipient_id": recipient,
        }
        if status in ("sent", "delivered"):  # Meta sends no billing info on read/failed
            entry["conversation"] = {"id": "conv" + recipient[-8:], "origin": {"type": "service"}}
            entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
        if errors is not None:
            entry["errors"] = errors
        metadata = self.metadata(self.sent_from.get(wamid))
        return {"messaging_product": "whatsapp", "metadata": metadata, "statuses": [entry]}

    @staticmethod
    def status_errors(code: int, title: str | None = None, detail: str | None = None) -> list[dict[str, Any]]:
        """The `errors` list of a `failed` status."""
        default_title, default_detail = error_title(code)
        title = title or default_title
        return [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": detail or default_detail},
                "href": ERROR_CODES_HREF,
            }
        ]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run in the background but keep a handle, so shutdown/reset can cancel it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_tasks(self) -> None:
        """Stop pending status webhooks, so nothing outlives a test or the server."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _post_statuses(
        self, wamid: str, recipient: str, statuses: list[str], errors: list[dict[str, Any]] | None = None
    ) -> None:
        for status in statuses:
            await asyncio.sleep(float(self.config["statusDelay"]))
            await self.post_webhook(self.status_value(wamid, status, recipient, errors if status == "failed" else None))

    # ---- Graph API ------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        """POST /{version}/{phone_id}/messages: send, or mark as read."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "authorization": request.headers.get("authorization"),
                "json": body,
            }
        )
        if self.access_token is not None and request.headers.get("authorization") != f"Bearer {self.access_token}":
            return _graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        if request.path_params["phone_id"] not in self.numbers:
            return _graph_error(
                400,
                f"Unsupported post request. Object with ID '{request.path_params['phone_id']}'"
                " does not exist, cannot be loaded due to missing permissions, or does not "
                "support this operation.",
                100,
                type="GraphMethodException",
                error_subcode=33,
            )
        if not isinstance(body, dict):
            return _graph_error(400, "(#100) Invalid parameter", 100)
        if self.config["sendDelay"]:
            await asyncio.sleep(float(self.config["sendDelay"]))
        if body.get("status") == "read" and "message_id" in body:
            if "typing_indicator" in body:
                refusal = self._check_typing(body)
                if refusal is not None:
                    return refusal
                self.typing.append(str(body["message_id"]))
            self.marked_read.append(str(body["message_id"]))
            return JSONResponse({"success": True})
        if not body.get("messaging_product") or not (body.get("to") or body.get("recipient")):
            missing = "messaging_product" if not body.get("messaging_product") else "to"
            return _graph_error(
                400,
                "(#100) Invalid parameter",
                100,
                error_data={"messaging_product": "whatsapp", "details": f"The parameter {missing} is required."},
            )
        refusal = self._check_message(body) or self._check_more(body)
        if refusal is not None:
            return refusal
        # `recipient`: a business-scoped user id, for customers known only by it.
        return await self._send(str(body.get("to") or body["recipient"]), request.path_params["phone_id"], body)

    def _check_typing(self, body: dict[str, Any]) -> JSONResponse | None:
        """A typing indicator is `{"type": "text"}` on a message the customer sent."""
        indicator = body.get("typing_indicator")
        if not isinstance(indicator, dict) or indicator.get("type") != "text":
            return _invalid("Param typing_indicator['type'] must be one of {text}.")
        if str(body["message_id"]) not in self.known_wamids:
            title, _ = error_title(131009)
            return _graph_error(
                400,
                f"(#131009) {title}",
                131009,
                error_data={"messaging_product": "whatsapp", "details": "Invalid message_id."},
            )
        return None

    def _check_message(self, body: dict[str, Any]) -> JSONResponse | None:
        """Media sent by id must exist; a template must exist, approved, with the right
        number of parameters (132001 / 132000 as Meta answers); a reaction names a message
        and one emoji (or "" to remove it); a quote's `context` names a message."""
        kind = body.get("type", "text")
        if "context" in body:
            context = body["context"]
            if not isinstance(context, dict) or not isinstance(context.get("message_id"), str):
                return _invalid("Param context['message_id'] must be a valid message id.")
        if kind == "reaction":
            reaction = body.get("reaction")
            if not isinstance(reaction, dict) or not isinstance(reaction.get("message_id"), str):
                return _invalid("Param reaction['message_id'] is required.")
            if not isinstance(reaction.get("emoji"), str) or not is_reaction_emoji(reaction["emoji"]):
                return _invalid("Param reaction['emoji'] must be a single emoji, or empty to remove the reaction.")
        if kind in MEDIA_KINDS:
            obj = body.get(kind)
            if not isinstance(obj, dict) or not (obj.get("id") or obj.get("link")):
                return _graph_error(
                    400,
                    "(#100) Invalid parameter",
                    100,
                    error_data={
                        "messaging_product": "whatsapp",
                        "details": f"Param {kind}['id'] or {kind}['link'] is required.",
                    },
                )
            if obj.get("id") and str(obj["id"]) not in self.media:
                return _graph_error(
                    400,
                    "(#131053) Media upload error",
                    131053,
                    error_data={"messaging_product": "whatsapp", "details": f"Unknown media id {obj['id']}."},
                )
        if kind == "template":
            obj = body.get("template")
            if not isinstance(obj, dict) or not obj.get("name") or not isinstance(obj.get("language"), dict):
                return _graph_error(
                    400,
                    "(#100) Invalid parameter",
                    100,
                    error_data={
                        "messaging_product": "whatsapp",
                        "details": "template name and language.code are required.",
                    },
                )
            code = obj["language"].get("code")
            found = next((t for t in self.templates if t["name"] == obj["name"] and t["language"] == code), None)
            if found is None or found.get("status") != "APPROVED":
                title, detail = error_title(132001)
                return _graph_error(
                    404,
                    f"(#132001) {title}",
                    132001,
                    error_data={
                        "messaging_product": "whatsapp",
                        "details": f"template name ({obj['name']}) does not exist in {code}",
                    },
                )
            given = {
                str(c.get("type", "")).lower(): len(c.get("parameters") or [])
                for c in obj.get("components") or []
                if isinstance(c, dict)
            }
            for comp in found["components"]:
                part = str(comp.get("type", "")).lower()
                if part not in ("header", "body") or (part == "header" and comp.get("format", "TEXT") != "TEXT"):
                    continue
                if given.get(part, 0) != _placeholder_count(comp.get("text")):
                    title, detail = error_title(132000)
                    return _graph_error(
                        400,
                        f"(#132000) {title}",
                        132000,
                        error_data={
                            "messaging_product": "whatsapp",
                            "details": f"{detail} ({part}: expected {_placeholder_count(comp.get('text'))}, "
                            f"got {given.get(part, 0)})",
                        },
                    )
        return None

    def _check_more(self, body: dict[str, Any]) -> JSONResponse | None:
        """Locations, contact cards, interactive messages, voice notes (server/fake_meta_checks.py)."""
        found = fake_meta_checks.check(body, self.media, self.templates)
        if found is None:
            return None
        details = {"messaging_product": "whatsapp", "details": found.details}
        return _graph_error(found.status, found.message, found.code, error_data=details)

    # ---- media and templates ----------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        return self.access_token is None or request.headers.get("authorization") == f"Bearer {self.access_token}"

    def register_media(self, data: bytes, mime_type: str, filename: str | None = None) -> str:
        """Keep a file as Meta would after a customer sent it; returns its media id."""
        media_id = str(secrets.randbelow(9 * 10**15) + 10**15)
        self.media[media_id] = {
            "data": data,
            "mime_type": mime_type,
            "filename": filename,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        return media_id

    def _media_failure(self, stage: str) -> dict[str, Any] | None:
        if self.media_failures and self.media_failures[0]["stage"] == stage:
            return self.media_failures.pop(0)
        return None

    async def _media_url(self, request: Request) -> Response:
        """GET /{version}/{media_id}: the short-lived download URL and the file's facts."""
        media_id = request.path_params["media_id"]
        self.media_requests.append(
            {
                "method": "GET",
                "path": request.url.path,
                "stage": "url",
                "authorization": request.headers.get("authorization"),
            }
        )
        if not self._authorized(request):
            return _graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        failure = self._media_failure("url")
        if failure:
            await asyncio.sleep(float(failure.get("delay") or 0))
            return _graph_error(
                int(failure.get("status") or 500),
                "An unexpected error has occurred. Please retry your request later.",
                2,
                is_transient=True,
            )
        item = self.media.get(media_id)
        if item is None:
            return _graph_error(
                400,
                f"Unsupported get request. Object with ID '{media_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this "
                "operation.",
                100,
                type="GraphMethodException",
                error_subcode=33,
            )
        expires = int(time.time()) + MEDIA_URL_LIFETIME
        url = f"{str(request.base_url).rstrip('/')}/whatsapp_business/attachments/?mid={media_id}&ext={expires}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": item["mime_type"],
                "sha256": item["sha256"],
                "file_size": len(item["data"]),
                "id": media_id,
            }
        )

    async def _download(self, request: Request) -> Response:
        """GET the URL from `_media_url` (with the bearer token, as at Meta): the bytes."""
        media_id = request.query_params.get("mid", "")
        self.media_requests.append(
            {
                "method": "GET",
                "path": request.url.path,
                "stage": "download",
                "mediaId": media_id,
                "authorization": request.headers.get("authorization"),
            }
        )
        if not self._authorized(request):
            return Response(status_code=401)
        failure = self._media_failure("download") or self._media_failure("corrupt")
        if failure:
            await asyncio.sleep(float(failure.get("delay") or 0))
        if failure and failure["stage"] == "download":
            return Response(b"Service unavailable", status_code=int(failure.get("status") or 503))
        item = self.media.get(media_id)
        expires = request.query_params.get("ext", "0")
        if item is None or not expires.isdigit() or int(expires) < time.time():
            return Response(b"URL signature expired", status_code=404)
        data = item["data"]
        if failure:  # "corrupt": the bytes change in transit
            data = data[:-1] + bytes([data[-1] ^ 0xFF]) if data else b"x"
        return Response(data, media_type=item["mime_type"])

    async def _upload(self, request: Request) -> JSONResponse:
        """POST /{version}/{phone_id}/media: multipart messaging_product, type, file."""
        async with request.form() as form:
            upload = form.get("file")
            data = await upload.read() if upload is not None and not isinstance(upload, str) else None
            record: dict[str, Any] = {
                "path": request.url.path,
                "authorization": request.headers.get("authorization"),
                "messaging_product": form.get("messaging_product"),
                "type": form.get("type"),
                "filename": getattr(upload, "filename", None),
                "contentType": getattr(upload, "content_type", None),
                "size": len(data) if data is not None else None,
                "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
                "id": None,
            }
        self.uploads.append(record)
        if not self._authorized(request):
            return _graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        if request.path_params["phone_id"] not in self.numbers:
            return _graph_error(400, "Unsupported post request.", 100, type="GraphMethodException", error_subcode=33)
        for name, value in (("messaging_product", record["messaging_product"]), ("file", data)):
            if not value:
                return _graph_error(
                    400,
                    "(#100) Invalid parameter",
                    100,
                    error_data={"messaging_product": "whatsapp", "details": f"The parameter {name} is required."},
                )
        mime = str(record["type"] or record["contentType"] or "application/octet-stream")
        record["id"] = self.register_media(data or b"", mime, record["filename"])
        return JSONResponse({"id": record["id"]})

    async def _message_templates(self, request: Request) -> JSONResponse:
        """GET /{version}/{waba_id}/message_templates: pages of `template_page_size`."""
        self.template_requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "authorization": request.headers.get("authorization"),
            }
        )
        if not self._authorized(request):
            return _graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        if request.path_params["waba_id"] != self.waba_id:
            return _graph_error(
                400,
                f"Unsupported get request. Object with ID '{request.path_params['waba_id']}' does not exist.",
                100,
                type="GraphMethodException",
                error_subcode=33,
            )
        size = max(1, min(int(request.query_params.get("limit") or 25), self.template_page_size))
        start = _uncursor(request.query_params["after"]) if request.query_params.get("after") else 0
        page = self.templates[start : start + size]
        body: dict[str, Any] = {"data": copy.deepcopy(page)}
        if page:
            body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}}
            if start + len(page) < len(self.templates):
                body["paging"]["next"] = str(request.url.include_query_params(after=_cursor(start + len(page))))
        return JSONResponse(body)

    async def _send(self, to: str, from_id: str | None = None, body: dict[str, Any] | None = None) -> Response:
        """Accept a send (or fail it as queued) and schedule its status webhooks. A reaction
        gets only `sent` (Meta sends no delivered/read for reactions), or `failed` with 131009
        when the message it reacts to is unknown."""
        wa_id = to if any(c.isalpha() for c in to) else "".join(c for c in to if c.isdigit())
        queued = self.failures_to.get(wa_id)
        failure = queued.pop(0) if queued else self.failures.pop(0) if self.failures else None
        if failure and failure["via"] == "response":
            return _graph_error(
                http_status_for(failure["code"]),
                failure["title"],
                failure["code"],
                error_data={"messaging_product": "whatsapp", "details": failure["detail"]},
            )
        wamid = new_wamid()
        self.sent_from[wamid] = from_id or self.phone_number_id
        reaction = (body or {}).get("reaction") if (body or {}).get("type") == "reaction" else None
        if reaction is None:
            self.known_wamids.add(wamid)
        elif not failure and reaction["message_id"] not in self.known_wamids:
            title = error_title(131009)[0]
            failure = {"via": "status", "code": 131009, "title": title, "detail": "Invalid message_id."}
        if self.config["sendAnswer"] == "not-json":
            return Response(b"<html>upstream hiccup</html>", media_type="text/html")
        if self.config["sendAnswer"] == "no-wamid":
            return JSONResponse({"messaging_product": "whatsapp", "messages": []})
        if failure:  # via "status": accepted now, failed by webhook later
            errors = self.status_errors(failure["code"], failure["title"], failure["detail"])
            self._spawn(self._post_statuses(wamid, wa_id, ["failed"], errors))
        else:
            statuses = ["sent"] + ([] if self.config["skipDelivered"] else ["delivered"])
            statuses += ["read"] if self.config["autoRead"] else []
            if reaction is not None:
                statuses = ["sent"]
            if self.config["statusesBeforeResponse"]:
                await self.post_webhook(self.status_value(wamid, statuses.pop(0), wa_id))
            self._spawn(self._post_statuses(wamid, wa_id, statuses))
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            }
        )

    # ---- /simulate ------------------------------------------------------------------

    async def _sim_fail(self, request: Request) -> JSONResponse:
        """Queue failures for the next `times` send calls."""
        body = await _json_object(request)
        code = int(body.get("code", 131000))
        title, detail = error_title(code)
        via = body.get("via", "response")
        if via not in ("response", "status"):
            return JSONResponse({"error": "via must be 'response' or 'status'"}, status_code=400)
        failure = {
            "code": code,
            "via": via,
            "title": body.get("title") or title,
            "detail": body.get("detail") or detail,
        }
        self.failures.extend(dict(failure) for _ in range(int(body.get("times", 1))))
        return JSONResponse({"queued": len(self.failures)})

    def fail_sends_to(self, wa_id: str, code: int, via: str = "status", times: int = 1) -> None:
        """The next `times` sends to this one number fail with Meta's `code` (the demo's
        customer whose WhatsApp cannot receive yet); sends to others are unaffected."""
        title, detail = error_title(code)
        failure = {"code": code, "via": via, "title": title, "detail": detail}
        self.failures_to.setdefault(wa_id, []).extend(dict(failure) for _ in range(times))

    async def _sim_config(self, request: Request) -> JSONResponse:
        """Change timing/ordering of status webhooks; unknown keys are rejected."""
        body = await _json_object(request)
        unknown = set(body) - set(self.config)
        if unknown:
            return JSONResponse({"error": f"unknown keys: {sorted(unknown)}"}, status_code=400)
        self.config.update(body)
        return JSONResponse(self.config)

    async def _sim_inbound(self, request: Request) -> JSONResponse:
        """Deliver a customer message to our server, as Meta would."""
        body = await _json_object(request)
        value = self.inbound_value(body)
        status = await self.post_webhook(value)
        return JSONResponse({"wamid": value["messages"][0]["id"], "webhookStatus": status})

    def inbound_value(self, body: dict[str, Any]) -> dict[str, Any]:
        """The webhook value for an inbound message described by a /simulate/inbound body."""
        sender = str(body.get("from", ""))
        contact: dict[str, Any] = {"profile": {"name": body.get("name", "")}}
        message: dict[str, Any] = {}
        if sender:  # username-only users have no phone number in the payload
            contact["wa_id"] = sender
            message["from"] = sender
        if body.get("userId"):
            contact["user_id"] = body["userId"]
            message["from_user_id"] = body["userId"]
        kind = body.get("type", "text")
        message.update(
            {
                "id": self._known(body.get("wamid") or new_wamid()),
                "timestamp": str(int(body.get("timestamp") or time.time())),
                "type": kind,
            }
        )
        if "context" in body:
            message["context"] = body["context"]
        if kind == "text":
            message["text"] = {"body": body.get("text", "")}
        else:
            message[kind] = body.get(kind, {})
        return {
            "messaging_product": "whatsapp",
            "metadata": self.metadata(body.get("to")),  # `to`: which of our numbers the customer wrote to
            "contacts": [contact],
            "messages": [message],
        }

    async def _sim_status(self, request: Request) -> JSONResponse:
        """Post one status webhook of the caller's choosing."""
        body = await _json_object(request)
        value = self.status_value(
            body["wamid"], body["status"], str(body.get("recipient", "")), body.get("errors"), body.get("timestamp")
        )
        return JSONResponse({"webhookStatus": await self.post_webhook(value)})

    async def _sim_webhook(self, request: Request) -> JSONResponse:
        """Post a hand-made value (or a whole envelope, if it has `object`) for exotic cases."""
        body = await _json_object(request)
        payload = body if "object" in body else self.envelope(body)
        return JSONResponse({"webhookStatus": await self.post_envelope(payload)})

    async def _sim_requests(self, request: Request) -> JSONResponse:
        return JSONResponse(self.requests)

    async def _sim_media(self, request: Request) -> JSONResponse:
        """Register a file a customer could send: the raw bytes with their Content-Type
        (`?filename=` optional), or JSON {"data": base64, "mimeType": ..., "filename": ...}."""
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            body = await _json_object(request)
            data, mime, filename = base64.b64decode(body["data"]), str(body["mimeType"]), body.get("filename")
        else:
            data = await request.body()
            mime = request.headers.get("content-type") or "application/octet-stream"
            filename = request.query_params.get("filename")
        media_id = self.register_media(data, mime, filename)
        return JSONResponse(
            {"id": media_id, "sha256": self.media[media_id]["sha256"], "size": len(data), "mimeType": mime}
        )

    async def _sim_media_fail(self, request: Request) -> JSONResponse:
        """Fail the next `times` media fetches: at the URL lookup ("url", the default), the
        download ("download"), or serve altered bytes ("corrupt"); `status` and `delay`."""
        body = await _json_object(request)
        stage = body.get("stage", "url")
        if stage not in ("url", "download", "corrupt"):
            return JSONResponse({"error": "stage must be 'url', 'download' or 'corrupt'"}, status_code=400)
        failure = {"stage": stage, "status": body.get("status"), "delay": body.get("delay", 0)}
        self.media_failures.extend(dict(failure) for _ in range(int(body.get("times", 1))))
        return JSONResponse({"queued": len(self.media_failures)})

    async def _sim_uploads(self, request: Request) -> JSONResponse:
        return JSONResponse(self.uploads)

    async def _sim_templates(self, request: Request) -> JSONResponse:
        """Replace the account's templates (`templates`) and/or the page size (`pageSize`)."""
        body = await _json_object(request)
        if "templates" in body:
            if not isinstance(body["templates"], list):
                raise ValueError("templates must be a list")
            self.templates = body["templates"]
        if "pageSize" in body:
            self.template_page_size = int(body["pageSize"])
        return JSONResponse({"templates": len(self.templates), "pageSize": self.template_page_size})

    async def _sim_template_status(self, request: Request) -> JSONResponse:
        """Meta's review of a template (`event`: APPROVED, REJECTED, PAUSED, DISABLED, …):
        the account's template takes that status and a `message_template_status_update`
        webhook says so, as Meta posts it."""
        body = await _json_object(request)
        event = str(body["event"]).upper()
        found = next(
            (t for t in self.templates if t["name"] == body["name"] and t["language"] == body["language"]), None
        )
        if found is not None and event in ("APPROVED", "REJECTED", "PAUSED", "DISABLED", "PENDING"):
            found["status"] = event
        value = {
            "event": event,
            "message_template_id": int(found["id"]) if found and str(found.get("id", "")).isdigit() else body.get("id"),
            "message_template_name": body["name"],
            "message_template_language": body["language"],
            "reason": body.get("reason") or "NONE",
        }
        if found is not None and found.get("category"):
            value["message_template_category"] = found["category"]
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "time": int(time.time()),
                    "changes": [{"field": "message_template_status_update", "value": value}],
                }
            ],
        }
        return JSONResponse({"webhookStatus": await self.post_envelope(payload), "value": value})

    async def _sim_reset(self, request: Request) -> JSONResponse:
        """Back to a clean slate between tests, including pending status webhooks."""
        await self.cancel_tasks()
        self.requests.clear()
        self.failures.clear()
        self.failures_to.clear()
        self.marked_read.clear()
        self.typing.clear()
        self.media_failures.clear()
        self.uploads.clear()
        self.media_requests.clear()
        self.template_requests.clear()
        self.templates = default_templates()
        self.template_page_size = 3
        self.config = _default_config(self.default_status_delay)
        return JSONResponse({"ok": True})


def _invalid(details: str) -> JSONResponse:
    """Meta's answer to a request whose shape is wrong."""
    return _graph_error(
        400, "(#100) Invalid parameter", 100, error_data={"messaging_product": "whatsapp", "details": details}
    )


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """Malformed /simulate bodies are the caller's bug: say so instead of a bare 500."""
    return JSONResponse({"error": f"bad request: {exc!r}"}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body; an empty body counts as `{}`."""
    raw = await request.body()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def create_app(
    webhook_url: str,
    app_secret: str,
    access_token: str | None = None,
    phone_number_id: str = "1000000001",
    display_phone_number: str = "15550001111",
    waba_id: str = "2000000002",
    status_delay: float = 0.05,
) -> Starlette:
    """The ASGI app of a fresh FakeMeta, when nobody needs the instance itself."""
    return FakeMeta(
        webhook_url, app_secret, access_token, phone_number_id, display_phone_number, waba_id, status_delay
    ).app


async def serve(host: str, port: int, **kwargs: Any) -> None:
    """Run the stand-in under uvicorn until stopped (`python -m server fake-meta`)."""
    config = uvicorn.Config(create_app(**kwargs), host=host, port=port, lifespan="on", ws="none")
    await uvicorn.Server(config).serve()
