"""The app factory: everything the app uses is built here from a Settings object and
managed by the lifespan, so tests and the demo run isolated apps side by side."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import (
    api,
    errors,
    logs,
    media_serve,
    numbers,
    preferences,
    presence,
    push,
    pwa,
    quick_replies,
    reactions,
    retry,
    sessions,
    templates,
    templates_api,
    tokens_api,
    typing_indicator,
    webhook,
    webhook_admin,
)
from .assignments import SnoozeWaker
from .bodylimit import BodyLimitMiddleware
from .db import Database, now_ms
from .delivery import Deliveries
from .headers import SecurityHeadersMiddleware
from .ingest import Ingest
from .media_downloads import MediaDownloads
from .media_rules import UPLOAD_MAX_BYTES
from .media_storage import media_store_for
from .outbox import Outbox
from .passwords import HashPool
from .realtime import Hub, websocket_endpoint
from .receipts import ReadReceipts
from .services import Services, services
from .settings import Settings
from .store import Store
from .throttle import LoginThrottle
from .whatsapp import CloudAPI

log = logging.getLogger(__name__)

ABANDONED_AFTER_MS = 10 * 60 * 1000  # far beyond any send's retries, so other processes' sends are safe


async def healthz(request: Request) -> Response:
    try:
        await services(request).db.fetch_val("SELECT 1")
    except Exception:  # report, don't crash: this is what monitors poll
        # The exception's text (host names, user names, paths) is for the log, not for
        # whoever polls this unauthenticated URL.
        log.warning("health check: the database is unreachable", exc_info=True)
        return JSONResponse({"status": "error", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def _prune(store: Store, retention_ms: int, pending_status_ms: int) -> None:
    while True:
        try:
            removed = await store.prune_events(now_ms() - retention_ms)
            if removed:
                log.info("pruned %d events older than the retention window", removed)
            removed = await store.prune_pending_statuses(now_ms() - pending_status_ms)
            if removed:
                log.info("pruned %d statuses for messages this server never sent", removed)
        except Exception:
            log.exception("pruning failed")
        await asyncio.sleep(600)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def body_limits(settings: Settings) -> Callable[[logs.Scope], int]:
    """Each route's own body limit: Meta's webhooks, file uploads, and a small one for JSON."""

    def limit_for(scope: logs.Scope) -> int:
        path = scope.get("path", "")
        if path == "/webhook":
            return settings.webhook_max_bytes
        if path in UPLOAD_PATHS and _is_multipart(scope):
            return UPLOAD_MAX_BYTES
        if path == "/api/invitations/import":
            return api.IMPORT_MAX_BYTES
        return settings.api_max_bytes

    return limit_for


UPLOAD_PATHS = frozenset({"/api/conversations/send"})


def _is_multipart(scope: logs.Scope) -> bool:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"content-type":
            return bytes(value).lower().startswith(b"multipart/form-data")
    return False


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    static_dir = Path(settings.static_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Each part is stopped, in the reverse order, by the stack it joins once started: at
        # shutdown, and also when a later part fails to start.
        async with contextlib.AsyncExitStack() as stack:
            hash_pool: HashPool = app.state.hash_pool
            stack.callback(hash_pool.shutdown)
            db = Database(settings.database_url)
            await db.connect()
            stack.push_async_callback(db.disconnect)
            retention_ms = int(settings.event_retention_hours * 3600 * 1000)
            hub = Hub(db, settings.broadcast_url, queue_size=settings.ws_queue_size)
            pusher = push.PushService(db, settings)  # Web Push to devices (server/push.py)

            def publish(event: dict[str, Any]) -> None:
                hub.publish(event)
                pusher.offer(event)

            store = Store(db, settings.default_region, publish=publish)
            await numbers.sync_configured(db, settings.phone_number_ids)
            store.default_number_id = (settings.phone_number_ids or [""])[0]
            await hub.start()
            stack.push_async_callback(hub.stop)
            await pusher.start()
            stack.push_async_callback(pusher.stop)
            # A reply stored but never handed to Meta (the process died mid-send) must not show a
            # clock forever: it fails with a reason, and the agent can send it again.
            await store.fail_abandoned_sends(now_ms() - ABANDONED_AFTER_MS)
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=settings.send_timeout))
            cloud = CloudAPI.from_settings(client, settings)
            deliveries = Deliveries(db, store, settings.send_wait, settings.shutdown_send_wait)
            store.deliveries, store.process_id = deliveries, deliveries.process_id
            # Inbound media downloads and the template copy run in the background
            # (media_downloads.py, templates.py); every reply leaves through the outbox.
            files = media_store_for(settings)
            media_service = MediaDownloads(db, store, cloud, settings, files)
            template_service = templates.TemplateService(db, store, cloud, settings)
            media_service.start()
            stack.push_async_callback(media_service.stop)
            template_service.start()
            stack.push_async_callback(template_service.stop)
            ingest = Ingest(db, store)
            ingest.start()
            stack.push_async_callback(ingest.stop)
            pending_status_ms = int(settings.pending_status_retention_hours * 3600 * 1000)
            pruner = asyncio.create_task(_prune(store, retention_ms, pending_status_ms), name="prune")
            stack.push_async_callback(_cancelled, pruner)
            # Snoozed conversations reopen on time, also those whose time passed while we were down.
            snoozer = SnoozeWaker(store)
            snoozer.start()
            stack.push_async_callback(snoozer.stop)
            # Expired sessions end, and websockets whose token ended elsewhere close (sessions.py).
            sweeper = sessions.SessionSweeper(store, sessions.Policy.from_settings(settings), hub.close_ended_sessions)
            sweeper.start()
            stack.push_async_callback(sweeper.stop)
            await deliveries.start()
            # Stopped first: it waits for sends in flight, which need everything above.
            stack.push_async_callback(deliveries.stop)
            outbox = Outbox(store, cloud, template_service, files)
            # READ_RECEIPTS (server/receipts.py): opening or answering gives the blue ticks.
            outbox.receipts = store.receipts = ReadReceipts(
                db, cloud, settings.read_receipts, deliveries.background, settings.send_wait
            )
            running = Services(
                settings=settings,
                db=db,
                store=store,
                hub=hub,
                cloud=cloud,
                deliveries=deliveries,
                outbox=outbox,
                media=media_service,
                templates=template_service,
                ingest=ingest,
                snoozer=snoozer,
                hash_pool=hash_pool,
                login_throttle=app.state.login_throttle,
                push=pusher,
            )
            app.state.services = running
            # The same parts by name, for code and tests that still read them there.
            for part in dataclasses.fields(running):
                setattr(app.state, part.name, getattr(running, part.name))
            missing = settings.missing_for_meta()
            if missing:
                log.warning("not set: %s; talking to WhatsApp needs them (README: Settings)", ", ".join(missing))
            yield

    async def index(request: Request) -> Response:
        return FileResponse(static_dir / "index.html")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        body = {"error": exc.detail, "code": errors.HTTP_CODES.get(exc.status_code, "error")}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        rid = logs.current_request_id()
        return JSONResponse(
            {
                "error": "internal server error; the details are in the server log"
                + (f" under request_id={rid}" if rid else ""),
                "code": "internal",
            },
            500,
            headers={"X-Request-ID": rid} if rid else None,
        )

    routes = [
        Route("/", index),
        *pwa.routes(static_dir),
        Route("/healthz", healthz),
        Route("/webhook", webhook.verify_subscription, methods=["GET"]),
        Route("/webhook", webhook.receive, methods=["POST"]),
        WebSocketRoute("/ws", websocket_endpoint),
        *media_serve.routes,
        *templates_api.routes,
        *webhook_admin.routes,
        *tokens_api.routes,
        *retry.routes,
        *preferences.routes,
        *quick_replies.routes,
        *typing_indicator.routes,
        *reactions.routes,
        *presence.routes,
        *push.routes,
        *api.routes,
        Mount("/static", StaticFiles(directory=static_dir, check_dir=False), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(logs.RequestIdMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(BodyLimitMiddleware, limit_for=body_limits(settings)),
        ],
        exception_handlers={errors.AppError: errors.handler, HTTPException: http_error, Exception: server_error},
    )
    app.state.settings = settings
    app.state.hash_pool = HashPool(settings.password_hash_workers, settings.password_hash_queue)
    app.state.login_throttle = LoginThrottle(
        settings.login_attempts_per_account, settings.login_attempts_per_address, settings.login_window_seconds
    )
    return app


def app_from_env() -> Starlette:
    """For `uvicorn --factory server.app:app_from_env`."""
    return create_app(Settings.from_env())
