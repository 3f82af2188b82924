"""Pieces shared by the harness and its load processes: a tiny keep-alive HTTP/1.1 client,
webhook bodies as Meta sends them, percentiles, and /proc readings.

The HTTP client is deliberately minimal (prebuilt request bytes, Content-Length responses
only) so that one load process on one core can out-run the server it measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from collections.abc import Iterable
from typing import Any

from server.signature import sign

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "1000000001"


def raise_nofile() -> int:
    """Lift the soft open-files limit to the hard one (1,000 sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            return soft
    return want


def run_async(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- HTTP -----------------------------------------------------------------------------------


class HTTPError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:
                pass
            self.writer = None

    def build(self, method: str, path: str, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send_raw(self, raw: bytes) -> tuple[int, bytes]:
        """Send prebuilt request bytes; returns (status, body). Reconnects once if the
        server had closed the idle connection."""
        for attempt in (0, 1):
            if self.writer is None:
                await self.connect()
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        status = int(head[9:12])
        lower = head.lower()
        i = lower.find(b"\r\ncontent-length:")
        if i < 0:
            raise HTTPError("response without Content-Length")
        j = lower.find(b"\r\n", i + 2)
        length = int(lower[i + 17 : j])
        body = await self.reader.readexactly(length) if length else b""
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, body

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> tuple[int, bytes]:
        return await self.send_raw(self.build(method, path, body, headers))


# -- webhook bodies -------------------------------------------------------------------------


def wa_id(n: int) -> str:
    """A valid Tanzanian mobile as Meta's wa_id (digits, no plus)."""
    return "2557" + str(10_000_000 + n % 89_999_999).zfill(8)


def webhook_body(messages: list[tuple[str, str, str, str]], now: float | None = None) -> bytes:
    """One webhook with (wamid, wa_id, name, text) messages, in one change value."""
    ts = str(int(now if now is not None else time.time()))
    contacts, seen = [], set()
    for _, w, name, _ in messages:
        if w not in seen:
            seen.add(w)
            contacts.append({"profile": {"name": name}, "wa_id": w})
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "100000000000001",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": contacts,
                            "messages": [
                                {"from": w, "id": wamid, "timestamp": ts, "type": "text", "text": {"body": text}}
                                for wamid, w, _, text in messages
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def webhook_request(conn: Conn, body: bytes, secret: str = APP_SECRET, path: str = "/webhook") -> bytes:
    return conn.build(
        "POST", path, body, [("Content-Type", "application/json"), ("X-Hub-Signature-256", sign(secret, body))]
    )


# -- figures --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of unsorted values (p in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
    }


# -- /proc ----------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


class CpuMeter:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0 = time.monotonic()
        self.c0 = cpu_seconds(pid)

    def percent(self) -> float:
        return round(100 * (cpu_seconds(self.pid) - self.c0) / max(time.monotonic() - self.t0, 1e-9), 1)
