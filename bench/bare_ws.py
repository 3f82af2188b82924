"""The push yardstick: a bare `websockets` server that broadcasts whatever text lines arrive
on its control port to every connected client, with `websockets.broadcast` (one encoding,
no await per connection). The push phase measures it beside the inbox, with the same
clients and the same frames.

    python -m bench.bare_ws --port 8102 --control-port 8103 [--compression deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.common import raise_nofile, run_async


async def main(args: argparse.Namespace) -> None:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            broadcast(clients, line.decode().rstrip("\n"))
        writer.close()

    compression = None if args.compression == "none" else args.compression
    async with serve(handler, "127.0.0.1", args.port, compression=compression, ping_interval=None, max_size=2**16):
        server = await asyncio.start_server(control, "127.0.0.1", args.control_port)
        async with server:
            print("READY", flush=True)
            stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            await asyncio.wait([stop], timeout=args.duration)  # a line on stdin ends it


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--compression", choices=["none", "deflate"], default="none")
    parser.add_argument("--duration", type=float, default=900.0, help="hard upper bound on its life")
    args = parser.parse_args()
    raise_nofile()
    run_async(main(args))
