"""The installable app's service worker, served from the root so its scope is the whole
dashboard (a worker under /static/ could only control /static/). Never cached by the HTTP
cache, so a new version reaches browsers at their next visit (static/sw.js)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route


def routes(static_dir: Path) -> list[Route]:
    async def service_worker(request: Request) -> Response:
        return FileResponse(
            static_dir / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    return [Route("/sw.js", service_worker)]
