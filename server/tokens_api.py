"""`/api/tokens`: script tokens (and sessions) listed and revoked, a new one made.

Admins see and end everyone's; other users their own. A token's secret is shown once, in
the answer that creates it: only its hash is stored.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import sessions
from .api import authenticated, json_body
from .auth import User
from .errors import Forbidden, Invalid, NotFound


def _kinds(request: Request) -> tuple[str, ...]:
    raw = request.query_params.get("kind", sessions.SCRIPT)
    if raw == "all":
        return (sessions.SCRIPT, sessions.SESSION)
    if raw not in (sessions.SCRIPT, sessions.SESSION):
        raise Invalid("kind must be script, session or all", "invalid_parameter")
    return (raw,)


def _token_id(request: Request) -> int:
    raw = request.path_params["id"]
    if not raw.isdigit() or not 0 < int(raw) <= 2**62:
        raise NotFound(f"token {raw} not found", "token_not_found")
    return int(raw)


@authenticated
async def list_tokens(request: Request, user: User) -> Response:
    policy = sessions.Policy.from_settings(request.app.state.settings)
    mine = None if user.is_admin else user.id
    return JSONResponse(await sessions.list_tokens(request.app.state.db, policy, _kinds(request), mine))


@authenticated
async def create_token(request: Request, user: User) -> Response:
    """A script token for yourself, or (admins) for `userId`."""
    body = await json_body(request)
    owner = body.get("userId", user.id)
    if not isinstance(owner, int) or isinstance(owner, bool):
        raise Invalid("userId must be a user id")
    if owner != user.id and not user.is_admin:
        raise Forbidden("only admins can make tokens for other users")
    db = request.app.state.db
    if await db.fetch_val("SELECT id FROM users WHERE id = :id AND deactivated_at IS NULL", id=owner) is None:
        raise NotFound(f"user {owner} not found", "user_not_found")
    token, token_id = await sessions.issue(
        request.app.state.store, owner, sessions.SCRIPT, sessions.token_name(body.get("name"))
    )
    policy = sessions.Policy.from_settings(request.app.state.settings)
    view = next(t for t in await sessions.list_tokens(db, policy, user_id=owner) if t["id"] == token_id)
    return JSONResponse({**view, "token": token}, 201)


@authenticated
async def revoke_token(request: Request, user: User) -> Response:
    view = await sessions.revoke(request.app.state.store, _token_id(request), user)
    return JSONResponse({**view, "revoked": True})


routes = [
    Route("/api/tokens", list_tokens),
    Route("/api/tokens", create_token, methods=["POST"]),
    Route("/api/tokens/{id}", revoke_token, methods=["DELETE"]),
]
