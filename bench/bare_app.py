"""The yardstick: a bare Starlette POST handler on the very uvicorn settings the inbox uses
(`server.__main__.uvicorn_config`). It also answers the Cloud API's send / mark-read calls,
so the inbox under test never talks to anything but loopback.

    python -m bench.bare_app --port 8101
"""

from __future__ import annotations

import argparse
import itertools

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.common import raise_nofile
from server.__main__ import uvicorn_config

_ids = itertools.count(1)


async def webhook(request: Request) -> Response:
    await request.body()
    return JSONResponse({"ok": True})


async def cloud_messages(request: Request) -> Response:
    """Meta's POST /{version}/{phone_number_id}/messages: a send or a mark-read."""
    body = await request.json()
    if body.get("status") == "read":
        return JSONResponse({"success": True})
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
            "messages": [{"id": f"wamid.benchstub{next(_ids)}"}],
        }
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/webhook", webhook, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/{version}/{phone_id}/messages", cloud_messages, methods=["POST"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    raise_nofile()
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", args.port, log_level=args.log_level)).run()


if __name__ == "__main__":
    main()
