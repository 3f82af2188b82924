"""GET /api/templates (the local copy) and POST /api/templates/sync (admins refresh it).

Apart from server/templates.py, so the command line (`sync-templates`) uses the templates
without importing the REST layer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api import authenticated
from .auth import User
from .errors import Forbidden, Unavailable, UpstreamFailed
from .settings import MissingSetting
from .whatsapp import SendError


@authenticated
async def list_templates(request: Request, user: User) -> Response:
    include_all = request.query_params.get("status", "").lower() == "all"
    return JSONResponse(await request.app.state.templates.list_for_api(include_all))


@authenticated
async def sync_templates(request: Request, user: User) -> Response:
    if not user.is_admin:
        raise Forbidden("only admins can refresh the templates", "admin_only")
    try:
        items = await request.app.state.templates.sync()
    except MissingSetting as exc:
        raise Unavailable(str(exc), "not_configured") from None
    except SendError as exc:
        raise UpstreamFailed(f"listing the templates from WhatsApp failed: {exc}", "whatsapp_failed") from None
    return JSONResponse({"synced": len(items), "templates": items})


routes = [
    Route("/api/templates", list_templates, methods=["GET"]),
    Route("/api/templates/sync", sync_templates, methods=["POST"]),
]
