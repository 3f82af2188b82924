"""The running app's parts, as one typed object: what a route or a websocket reaches for.

The lifespan (app.py) builds them and puts one `Services` on `app.state.services`; handlers
call `services(request)` instead of reading untyped `app.state` attributes, so the type
checker knows what they get. The classes are named for the checker only (TYPE_CHECKING):
this module imports nothing of the server when it runs, so every route module may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from .assignments import SnoozeWaker
    from .db import Database
    from .delivery import Deliveries
    from .ingest import Ingest
    from .media_downloads import MediaDownloads
    from .outbox import Outbox
    from .passwords import HashPool
    from .push import PushService
    from .realtime import Hub
    from .settings import Settings
    from .store import Store
    from .templates import TemplateService
    from .throttle import LoginThrottle
    from .whatsapp import CloudAPI


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    store: Store
    hub: Hub
    cloud: CloudAPI
    deliveries: Deliveries
    outbox: Outbox
    media: MediaDownloads
    templates: TemplateService
    ingest: Ingest
    snoozer: SnoozeWaker
    hash_pool: HashPool
    login_throttle: LoginThrottle
    push: PushService  # Web Push (server/push.py)


def services(where: HTTPConnection | Starlette) -> Services:
    """The services of the app serving this request or websocket (or of this app)."""
    app = where if isinstance(where, Starlette) else where.app
    found: Services = app.state.services
    return found
