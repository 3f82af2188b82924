"""Load processes, started by bench/run.py so the load never shares the server's event loop.

    python -m bench.load ingest --port P --conns 64 --batch 1 --duration 10 --out F
    python -m bench.load ws     --port P --token T --clients 1000 --duration 60 --out F
    python -m bench.load poll   --port P --token T --conversation C --after A --clients 100 --out F

Each prints READY on stdout once set up (ws, poll), stops on its own at --duration (or on a
line on stdin), and writes its figures as JSON to --out. Every loop is bounded in count and
time; every address is 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any

from bench.common import Conn, percentile, raise_nofile, run_async, wa_id, webhook_body, webhook_request

SEQ = re.compile(r"bench-push-(\d+)")
BARE_SEQ = re.compile(r"bare-push-(\d+)")


async def stdin_line() -> None:
    """Returns when a line (or EOF) arrives on stdin."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)


# -- ingest ---------------------------------------------------------------------------------


async def ingest(args: argparse.Namespace) -> dict[str, Any]:
    """`conns` keep-alive connections post signed webhooks back to back."""
    counter = 0
    start = time.monotonic()
    measure_from = start + args.warmup
    end = measure_from + args.duration
    done = errors = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker(w: int) -> None:
        nonlocal counter, done, errors
        conn = Conn(args.port)
        await conn.connect()
        try:
            while True:
                now = time.monotonic()
                if now >= end or done >= args.max_requests:
                    return
                msgs = []
                for _ in range(args.batch):
                    counter += 1
                    n = counter
                    msgs.append(
                        (
                            f"wamid.bench.{args.run_id}.{n}",
                            wa_id(n % args.contacts),
                            f"Contact {n % args.contacts}",
                            f"hello number {n}",
                        )
                    )
                raw = webhook_request(conn, webhook_body(msgs), args.secret)
                t0 = time.monotonic()
                try:
                    status, _ = await conn.send_raw(raw)
                except Exception:
                    status = 0
                    await conn.close()
                t1 = time.monotonic()
                # completions inside the window: with every connection always busy the
                # rate is steady from the start, whatever each request's latency
                if measure_from <= t1 <= end:
                    done += 1
                    latencies.append(t1 - t0)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status != 200:
                        errors += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker(i) for i in range(args.conns)))
    elapsed = args.duration
    return {
        "requests": done,
        "errors": errors,
        "statuses": statuses,
        "seconds": elapsed,
        "rps": round(done / elapsed, 1),
        "messages_per_s": round(done * args.batch / elapsed, 1),
        "p50_ms": round((percentile(latencies, 50) or 0) * 1000, 2),
        "p99_ms": round((percentile(latencies, 99) or 0) * 1000, 2),
    }


# -- websocket clients ----------------------------------------------------------------------


async def ws_clients(args: argparse.Namespace) -> dict[str, Any]:
    """`clients` websockets to the inbox (and as many to the bare server with --bare-port),
    each noting when every message.created frame arrives."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{args.port}/ws?token={args.token}"
    compression = None if args.compression == "none" else args.compression
    receipts: dict[int, list[float]] = {}
    bare_receipts: dict[int, list[float]] = {}
    frames = 0
    failed = closed_early = 0
    stopping = False
    sockets: list[Any] = []
    bare_sockets: list[Any] = []
    gate = asyncio.Semaphore(args.connect_concurrency)
    deadline = time.monotonic() + args.duration

    async def open_one(target: str, into: list[Any]) -> None:
        nonlocal failed
        async with gate:
            for _ in range(3):
                if time.monotonic() > deadline:
                    break
                try:
                    ws = await asyncio.wait_for(
                        connect(target, max_size=2**20, open_timeout=20, ping_interval=None, compression=compression),
                        30,
                    )
                    into.append(ws)
                    return
                except Exception:
                    await asyncio.sleep(0.2)
            failed += 1

    await asyncio.gather(*(open_one(url, sockets) for _ in range(args.clients)))
    if args.bare_port:
        bare_url = f"ws://127.0.0.1:{args.bare_port}/"
        await asyncio.gather(*(open_one(bare_url, bare_sockets) for _ in range(args.clients)))

    async def receive(ws: Any, pattern: re.Pattern[str], into: dict[int, list[float]]) -> None:
        nonlocal frames, closed_early
        try:
            async for frame in ws:
                t = time.monotonic()
                frames += 1
                if '"message.created"' in frame:
                    m = pattern.search(frame)
                    if m:
                        into.setdefault(int(m.group(1)), []).append(t)
        except Exception:
            pass
        if not stopping:
            closed_early += 1  # the server closed it (or it failed) before the end

    tasks = [asyncio.create_task(receive(ws, SEQ, receipts)) for ws in sockets]
    tasks += [asyncio.create_task(receive(ws, BARE_SEQ, bare_receipts)) for ws in bare_sockets]
    print(f"READY {len(sockets)} {failed} {len(bare_sockets)}", flush=True)
    stop = asyncio.create_task(stdin_line())
    await asyncio.wait([stop], timeout=max(0.0, deadline - time.monotonic()))
    stopping = True
    await asyncio.gather(*(asyncio.wait_for(ws.close(), 2) for ws in sockets + bare_sockets), return_exceptions=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stop.cancel()
    return {
        "connected": len(sockets),
        "bare_connected": len(bare_sockets),
        "failed": failed,
        "closed_early": closed_early,
        "frames": frames,
        "receipts": {str(k): v for k, v in receipts.items()},
        "bare_receipts": {str(k): v for k, v in bare_receipts.items()},
    }


# -- pollers --------------------------------------------------------------------------------


async def pollers(args: argparse.Namespace) -> dict[str, Any]:
    """`clients` pollers, each GET …/messages?after= every `interval` s, their phases spread
    evenly over one interval (as independent dashboards would be)."""
    receipts: dict[int, list[float]] = {}
    latencies: list[float] = []
    errors = 0
    headers = [("Authorization", f"Bearer {args.token}")]
    conns = [Conn(args.port) for _ in range(args.clients)]
    gate = asyncio.Semaphore(50)

    async def open_one(c: Conn) -> None:
        async with gate:
            await c.connect()

    await asyncio.gather(*(open_one(c) for c in conns))
    print("READY", flush=True)
    start = time.monotonic() + 0.2
    end = start + args.duration

    async def poll(i: int, conn: Conn) -> None:
        nonlocal errors
        after = args.after
        next_at = start + args.interval * i / args.clients
        polls = 0
        while next_at < end and polls < args.max_polls:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += args.interval
            polls += 1
            t0 = time.monotonic()
            try:
                status, body = await conn.request(
                    "GET", f"/api/conversations/{args.conversation}/messages?after={after}&limit=500", headers=headers
                )
            except Exception:
                errors += 1
                await conn.close()
                continue
            t1 = time.monotonic()
            latencies.append(t1 - t0)
            if status != 200:
                errors += 1
                continue
            for m in json.loads(body):
                after = max(after, m["id"])
                found = SEQ.search(m.get("content") or "")
                if found:
                    receipts.setdefault(int(found.group(1)), []).append(t1)

    await asyncio.gather(*(poll(i, c) for i, c in enumerate(conns)))
    await asyncio.gather(*(c.close() for c in conns))
    return {
        "clients": args.clients,
        "requests": len(latencies),
        "errors": errors,
        "latencies": latencies,
        "receipts": {str(k): v for k, v in receipts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--contacts", type=int, default=2000)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--max-requests", type=int, default=2_000_000)
    p.add_argument("--run-id", default="x")
    p = sub.add_parser("ws")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--bare-port", type=int, default=0, help="also connect as many clients to bench.bare_ws")
    p.add_argument("--compression", choices=["deflate", "none"], default="deflate", help="offer it, as browsers do")
    p.add_argument("--duration", type=float, default=120.0, help="hard upper bound; stdin stops it earlier")
    p = sub.add_parser("poll")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--conversation", type=int, required=True)
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--interval", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--max-polls", type=int, default=1000)
    for p in sub.choices.values():
        p.add_argument("--out", required=True)
    args = parser.parse_args()
    raise_nofile()
    fn = {"ingest": ingest, "ws": ws_clients, "poll": pollers}[args.mode]
    result = run_async(fn(args))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
