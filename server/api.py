"""The REST API: bearer-token or session-cookie auth (server/sessions.py), JSON in camelCase,
a JSON error for every failure."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, overload

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import assignments, contacts, invitation_csv, labels, notes, numbers, queries, quoting, sessions, users
from .auth import User, check_password
from .errors import BadRequest, Forbidden, Invalid, NotFound, Unauthenticated
from .sanitize import storable
from .send_parse import parse_send
from .sends import Send, Target
from .services import services
from .upload_form import read_file_send
from .visibility import visible_conversation

log = logging.getLogger(__name__)

Handler = Callable[[Request, User], Awaitable[Response]]
# An invitations CSV may be much larger than a JSON body (10 MB is ~200,000 rows).
IMPORT_MAX_BYTES = 10 * 1024 * 1024


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the bearer token or the session cookie to a user (401 otherwise; an expired
    session is a 401 too)."""

    async def endpoint(request: Request) -> Response:
        session = await sessions.authenticate(request)
        if session is None:
            raise Unauthenticated("missing, invalid or expired token: send Authorization: Bearer <token>")
        request.state.user, request.state.session = session.user, session
        return await handler(request, session.user)

    return endpoint


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON", "invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", "invalid_json")
    return storable(body)


# Ids and cursors are 64-bit in the database: a bigger number must not reach a query.
MAX_INT = 2**62


@overload
def int_param(request: Request, name: str) -> int | None: ...
@overload
def int_param(request: Request, name: str, default: int) -> int: ...
def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    """A whole-number query parameter; `default` when it is absent (None without a default)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be a whole number", "invalid_parameter") from None
    if not -MAX_INT <= value <= MAX_INT:
        raise Invalid(f"{name} is out of range", "invalid_parameter")
    return value


def path_id(request: Request) -> int:
    try:
        value = int(request.path_params["id"])
    except ValueError:
        value = None
    if value is None or not 0 < value <= MAX_INT:
        raise NotFound(f"conversation {request.path_params['id']} not found", "conversation_not_found")
    return value


# -- auth ----------------------------------------------------------------------------------


def client_address(request: Request) -> str:
    """The caller's address; behind the documented proxy, uvicorn has already taken it from
    X-Forwarded-For (trusted from FORWARDED_ALLOW_IPS only)."""
    return request.client.host if request.client else "-"


async def login(request: Request) -> Response:
    """`{"cookie": true}` (the dashboard): the session goes into the HttpOnly cookie, not
    the answer. Otherwise the answer carries it as a bearer token."""
    body = await json_body(request)
    cookie = body.get("cookie") is True
    if cookie:
        sessions.check_csrf(request)
    email = str(body.get("email") or "").strip().lower()
    password = str(body.get("password") or "")
    if not email or not password:
        raise Invalid("email and password are required", "credentials_required")
    # Counted before any hash runs: past the limits, no argon2 work at all (server/throttle.py).
    request.app.state.login_throttle.admit(client_address(request), email)
    row = await request.app.state.db.fetch_one(
        "SELECT id, password_hash FROM users WHERE email = :e AND deactivated_at IS NULL", e=email
    )
    hashes = request.app.state.hash_pool
    if not await check_password(row["password_hash"] if row else None, password, hashes) or row is None:
        raise Unauthenticated("wrong email or password", "wrong_credentials")
    request.app.state.login_throttle.succeeded(email)
    token, _ = await sessions.issue(request.app.state.store, row["id"], sessions.SESSION)
    if not cookie:
        return JSONResponse({"token": token})
    response = JSONResponse({"ok": True})
    sessions.set_cookie(response, request, token, sessions.Policy.from_settings(request.app.state.settings))
    return response


@authenticated
async def logout(request: Request, user: User) -> Response:
    """Ends this token (every tab of a browser shares one), and closes its websockets 4401."""
    session: sessions.Session = request.state.session
    store = request.app.state.store
    await store.db.write(lambda tx: sessions.end_tokens(store, tx, user.id, [session.token_id], "logged out"))
    response = JSONResponse({"ok": True})
    sessions.clear_cookie(response, request)
    return response


@authenticated
async def me(request: Request, user: User) -> Response:
    return JSONResponse(
        {
            "id": user.id,
            "email": user.email,
            "isAdmin": user.is_admin,
            "name": user.display_name,
            "role": user.role,
            "seesUnassigned": user.is_admin or user.sees_unassigned,
        }
    )


# -- conversations -------------------------------------------------------------------------


def _statuses(request: Request) -> tuple[str, ...] | None:
    raw = request.query_params.get("status") or "all"
    wanted = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if "all" in wanted or not wanted:
        return None
    wrong = [w for w in wanted if w not in queries.STATUSES]
    if wrong:
        raise Invalid("status must be all or one or more of " + ", ".join(queries.STATUSES))
    return wanted


def _assignee(request: Request, user: User) -> int | str | None:
    raw = request.query_params.get("assignee")
    if raw in (None, ""):
        return None
    if raw == "me":
        return user.id
    if raw == queries.UNASSIGNED:
        return queries.UNASSIGNED
    value = int_param(request, "assignee")
    if value is None or value <= 0:
        raise Invalid("assignee must be me, unassigned or a user id")
    return value


def _filters(request: Request, user: User) -> dict[str, Any]:
    return {
        "search": storable(request.query_params.get("search")),
        "assignee": _assignee(request, user),
        "label": storable(request.query_params.get("label")) or None,
    }


@authenticated
async def list_conversations(request: Request, user: User) -> Response:
    items = await queries.list_conversations(
        request.app.state.db,
        user,
        limit=int_param(request, "limit", 50),
        before=int_param(request, "before"),
        number=storable(request.query_params.get("number")) or None,
        statuses=_statuses(request),
        **_filters(request, user),
    )
    return JSONResponse(items)


@authenticated
async def conversation_counts(request: Request, user: User) -> Response:
    """How many conversations of each status the same filters would list (the status tabs)."""
    number = storable(request.query_params.get("number")) or None
    counts = await queries.status_counts(request.app.state.db, user, number=number, **_filters(request, user))
    return JSONResponse(counts)


async def _visible_conversation(request: Request, user: User) -> int:
    conversation_id = path_id(request)
    await visible_conversation(services(request).db, user, conversation_id, "owner_id")
    return conversation_id


@authenticated
async def get_conversation(request: Request, user: User) -> Response:
    conversation_id = await _visible_conversation(request, user)
    return JSONResponse(await queries.get_conversation(request.app.state.db, conversation_id, user))


@authenticated
async def update_conversation(request: Request, user: User) -> Response:
    """PATCH {"contactName": ...}: the name the business knows the customer by."""
    name = contacts.given_name(await json_body(request))
    return JSONResponse(await contacts.rename(request.app.state.store, user, path_id(request), name))


@authenticated
async def merge_conversation(request: Request, user: User) -> Response:
    """POST {"conversationId": other}: the other conversation is folded into this one."""
    body = await json_body(request)
    other = body.get("conversationId")
    if isinstance(other, bool) or not isinstance(other, int) or not 0 < other <= MAX_INT:
        raise Invalid("give conversationId: the conversation to merge into this one", "invalid_field")
    return JSONResponse(await contacts.merge_conversations(request.app.state.store, user, path_id(request), other))


@authenticated
async def contact_panel(request: Request, user: User) -> Response:
    return JSONResponse(await contacts.contact_panel(request.app.state.db, user, path_id(request)))


@authenticated
async def list_messages(request: Request, user: User) -> Response:
    conversation_id = await _visible_conversation(request, user)
    items = await queries.list_messages(
        request.app.state.db,
        conversation_id,
        limit=int_param(request, "limit", 50),
        before=int_param(request, "before"),
        after=int_param(request, "after"),
    )
    return JSONResponse(items)


def send_target(request: Request, body: dict[str, Any]) -> Target:
    """Who a send goes to (conversationId or phoneNumber, clientId), from a JSON body or form fields."""
    conversation_id = body.get("conversationId")
    if conversation_id is not None:
        if isinstance(conversation_id, bool) or (
            isinstance(conversation_id, float) and not conversation_id.is_integer()
        ):
            raise Invalid("conversationId must be a number", "invalid_field")
        try:
            conversation_id = int(conversation_id)
        except (TypeError, ValueError, OverflowError):
            raise Invalid("conversationId must be a number", "invalid_field") from None
        if not 0 < conversation_id <= MAX_INT:
            raise NotFound(f"conversation {conversation_id} not found", "conversation_not_found")
    phone = body.get("phoneNumber")
    if phone is not None and (isinstance(phone, bool) or not isinstance(phone, (str, int))):
        raise Invalid("phoneNumber must be text", "invalid_field")
    client_id = body.get("clientId") or request.headers.get("idempotency-key") or None
    if client_id is not None:
        client_id = str(client_id)[:200]
    number_id = body.get("businessNumberId")
    if number_id is not None and (isinstance(number_id, bool) or not isinstance(number_id, (str, int))):
        raise Invalid("businessNumberId must be a business number id", "invalid_field")
    return Target(
        conversation_id,
        str(phone) if phone is not None else None,
        client_id,
        str(number_id) if number_id is not None else None,
        reply_to=quoting.parse_reply_to(body),
    )


@authenticated
async def send(request: Request, user: User) -> Response:
    """Any reply: JSON (server/send_parse.py) or a file as multipart/form-data
    (server/upload_form.py), sent by the outbox (server/outbox.py)."""
    what: Send
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        fields, what = await read_file_send(request)
        target = send_target(request, fields)
    else:
        body = await json_body(request)
        target = send_target(request, body)
        what = parse_send(body)
    message = await services(request).outbox.send(user, target, what)
    return JSONResponse(message, status_code=201)


@authenticated
async def mark_read(request: Request, user: User) -> Response:
    conversation = await request.app.state.outbox.mark_read(user, path_id(request))
    return JSONResponse(conversation)


# -- invitations ---------------------------------------------------------------------------


def _invitation_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "phoneNumber": row["phone_number"],
        "ownerId": row["owner_id"],
        "createdAt": queries.iso(row["created_at"]),
    }


@authenticated
async def list_invitations(request: Request, user: User) -> Response:
    rows = await request.app.state.db.fetch_all(
        "SELECT id, name, phone_number, owner_id, created_at FROM invitations"
        " WHERE (:admin = 1 OR owner_id = :uid) ORDER BY id",
        admin=1 if user.is_admin else 0,
        uid=user.id,
    )
    return JSONResponse([_invitation_view(r) for r in rows])


@authenticated
async def add_invitation(request: Request, user: User) -> Response:
    body = await json_body(request)
    name, phone = body.get("name"), body.get("phoneNumber")
    if name is not None and not isinstance(name, str):
        raise Invalid("name must be text", "invalid_field")
    if phone is not None and (isinstance(phone, bool) or not isinstance(phone, (str, int))):
        raise Invalid("phoneNumber must be text", "invalid_field")
    invitation = await request.app.state.store.add_invitation(
        user.id, name or "", str(phone) if phone is not None else "", user
    )
    return JSONResponse(invitation, status_code=201)


@authenticated
async def import_invitations(request: Request, user: User) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the uploaded files' temporary storage
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Invalid("send the CSV as a form field named 'file'", "file_missing")
            raw = await upload.read()
    else:
        raw = await request.body()
    try:
        return JSONResponse(await invitation_csv.import_invitations(request.app.state.store, user.id, raw, user))
    except invitation_csv.UnreadableFile as exc:
        raise Invalid(str(exc), "unreadable_file") from None


# -- events (polling fallback for the websocket) -------------------------------------------


@authenticated
async def events(request: Request, user: User) -> Response:
    hub = request.app.state.hub
    if "since" not in request.query_params:
        # A new client starts from now; history comes from the REST endpoints.
        return JSONResponse({"events": [], "lastId": await hub.latest_id()})
    since = max(int_param(request, "since", 0) or 0, 0)
    if await hub.too_old(since):
        return JSONResponse({"events": [hub.resync_event()], "lastId": await hub.latest_id()})
    # Read the high-water mark first: events after it are left for the next poll.
    until = await hub.latest_id()
    items = await queries.events_since(request.app.state.db, user, since, until)
    last = items[-1]["id"] if len(items) == queries.EVENTS_PAGE else max(since, until)
    return JSONResponse({"events": items, "lastId": last})


@authenticated
async def meta_errors(request: Request, user: User) -> Response:
    if not user.is_admin:
        raise Forbidden("only admins can see account errors", "admin_only")
    rows = await request.app.state.db.fetch_all(
        "SELECT id, code, title, detail, created_at FROM meta_errors ORDER BY id DESC LIMIT 100"
    )
    return JSONResponse(
        [
            {
                "id": r["id"],
                "code": r["code"],
                "title": r["title"],
                "detail": r["detail"],
                "createdAt": queries.iso(r["created_at"]),
            }
            for r in rows
        ]
    )


@authenticated
async def list_numbers(request: Request, user: User) -> Response:
    return JSONResponse(await numbers.list_numbers(request.app.state.db, request.app.state.settings.phone_number_ids))


@authenticated
async def add_number(request: Request, user: User) -> Response:
    number_id, display_name = numbers.parse_new(await json_body(request))
    return JSONResponse(await numbers.add_number(request.app.state.db, user, number_id, display_name), 201)


# -- team: users, assignment, status, notes, labels ------------------------------------------


def _user_id(request: Request) -> int:
    try:
        value = int(request.path_params["id"])
    except ValueError:
        value = 0
    if not 0 < value <= MAX_INT:
        raise NotFound(f"user {request.path_params['id']} not found", "user_not_found")
    return value


@authenticated
async def list_users(request: Request, user: User) -> Response:
    return JSONResponse(await users.list_users(request.app.state.db))


@authenticated
async def create_user(request: Request, user: User) -> Response:
    return JSONResponse(await users.create_user(request.app.state.store, user, await json_body(request)), 201)


@authenticated
async def update_user(request: Request, user: User) -> Response:
    body = await json_body(request)
    view = await users.update_user(request.app.state.store, user, _user_id(request), body)
    return JSONResponse(view)


@authenticated
async def assign(request: Request, user: User) -> Response:
    body = await json_body(request)
    if "userId" not in body:
        raise Invalid("give userId: a user id, or null for the unassigned queue")
    target = body["userId"]
    if target is not None and (isinstance(target, bool) or not isinstance(target, int) or not 0 < target <= MAX_INT):
        raise Invalid("userId must be a user id or null")
    return JSONResponse(await assignments.assign(request.app.state.store, user, path_id(request), target))


@authenticated
async def set_status(request: Request, user: User) -> Response:
    status, until = assignments.parse_status(await json_body(request))
    view = await assignments.set_status(request.app.state.store, user, path_id(request), status, until)
    if status == "snoozed":
        request.app.state.snoozer.poke()
    return JSONResponse(view)


@authenticated
async def add_note(request: Request, user: User) -> Response:
    body = await json_body(request)
    note, _ = await notes.add_note(request.app.state.store, user, path_id(request), body.get("content"))
    return JSONResponse(note, 201)


@authenticated
async def list_labels(request: Request, user: User) -> Response:
    return JSONResponse(await labels.list_labels(request.app.state.db))


@authenticated
async def create_label(request: Request, user: User) -> Response:
    return JSONResponse(await labels.create_label(request.app.state.store, user, await json_body(request)), 201)


@authenticated
async def delete_label(request: Request, user: User) -> Response:
    try:
        label_id = int(request.path_params["id"])
    except ValueError:
        label_id = 0
    if not 0 < label_id <= MAX_INT:
        raise NotFound(f"label {request.path_params['id']} not found", "label_not_found")
    await labels.delete_label(request.app.state.store, user, label_id)
    return JSONResponse({"ok": True})


@authenticated
async def set_labels(request: Request, user: User) -> Response:
    body = await json_body(request)
    view = await labels.set_labels(request.app.state.store, user, path_id(request), body.get("labels"))
    return JSONResponse(view)


async def not_found(request: Request) -> Response:
    raise NotFound(f"no API route {request.method} {request.url.path}", "no_route")


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/conversations", list_conversations),
    Route("/api/conversations/counts", conversation_counts),
    Route("/api/conversations/send", send, methods=["POST"]),
    Route("/api/conversations/{id}", get_conversation),
    Route("/api/conversations/{id}", update_conversation, methods=["PATCH"]),
    Route("/api/conversations/{id}/contact", contact_panel),
    Route("/api/conversations/{id}/merge", merge_conversation, methods=["POST"]),
    Route("/api/conversations/{id}/messages", list_messages),
    Route("/api/conversations/{id}/read", mark_read, methods=["POST"]),
    Route("/api/conversations/{id}/assign", assign, methods=["POST"]),
    Route("/api/conversations/{id}/status", set_status, methods=["POST"]),
    Route("/api/conversations/{id}/notes", add_note, methods=["POST"]),
    Route("/api/conversations/{id}/labels", set_labels, methods=["PUT"]),
    Route("/api/users", list_users),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{id}", update_user, methods=["PATCH"]),
    Route("/api/labels", list_labels),
    Route("/api/labels", create_label, methods=["POST"]),
    Route("/api/labels/{id}", delete_label, methods=["DELETE"]),
    Route("/api/invitations", list_invitations),
    Route("/api/invitations", add_invitation, methods=["POST"]),
    Route("/api/invitations/import", import_invitations, methods=["POST"]),
    Route("/api/events", events),
    Route("/api/errors", meta_errors),
    Route("/api/numbers", list_numbers),
    Route("/api/numbers", add_number, methods=["POST"]),
    Route("/api/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
]
