"""`make bench`: ingest, push latency, polling cost, large inboxes and memory, measured against a
real `python -m server serve` on loopback. Prints one table and writes bench/results.json.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres QUICK=1 python -m bench.run

DATABASE_URL unset: temporary SQLite files. A PostgreSQL URL names a server to borrow: the
run creates its own temporary databases there and drops them afterwards. QUICK=1 shrinks
every phase so the whole run takes about two minutes. Figures only: nothing here fails on
timing. Every request goes to 127.0.0.1, every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import seed
from bench.common import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    Conn,
    CpuMeter,
    raise_nofile,
    rss_mb,
    run_async,
    summary_ms,
    wa_id,
    webhook_body,
    webhook_request,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PASSWORD = "bench-password-123"

FULL = dict(
    ingest_warmup=1.0,
    ingest_seconds=10.0,
    ingest_conns=64,
    ws_clients=1000,
    many_clients=10_000,
    many_procs=4,
    many_rate=2.0,
    many_seconds=10.0,
    push_rate=10.0,
    push_seconds=20.0,
    poll_interval=3.0,
    poll_seconds_100=15.0,
    poll_seconds_1000=30.0,
    large_conversations=100_000,
    large_messages=2_000_000,
    query_samples=200,
    query_budget_s=30.0,
)
QUICK = dict(
    FULL,
    ingest_warmup=0.5,
    ingest_seconds=2.0,
    push_seconds=4.0,
    many_seconds=3.0,
    poll_seconds_100=3.5,
    poll_seconds_1000=3.5,
    large_conversations=10_000,
    large_messages=200_000,
    query_samples=40,
    query_budget_s=2.0,
)
TARGETS = {
    "ingest_ratio": 0.5,
    "push_p50_ms": 10.0,
    "push_p99_ms": 50.0,
    "query_p95_ms": 20.0,
    "rss_1000_ws_mb": 100.0,
    "rss_10000_ws_mb": 600.0,
}
WS_COMPRESSION = "none"  # `--ws-compression`: what the servers under test accept


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- databases ------------------------------------------------------------------------------


class Databases:
    """Fresh databases for the run: SQLite files in a temp dir, or temporary PostgreSQL
    databases on the server DATABASE_URL names (dropped at the end)."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1) if url else ""
        self.tmp = tmp
        self.kind = "postgresql" if self.url.startswith("postgresql") else "sqlite"
        self.created: list[str] = []

    def new(self, label: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp}/{label}.db"
        name = f"inbox_bench_{uuid.uuid4().hex[:8]}_{label}"
        run_async(self._pg(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self._base() + "/" + name

    def sqlite_path(self, url: str) -> str:
        return url.split("///", 1)[1]

    def _base(self) -> str:
        return self.url.split("?", 1)[0].rsplit("/", 1)[0]

    async def _pg(self, sql: str) -> None:
        import asyncpg

        try:
            conn = await asyncpg.connect(self.url)
        except asyncpg.InvalidCatalogNameError:  # the named database does not exist: borrow the server only
            conn = await asyncpg.connect(self._base() + "/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def drop_all(self) -> None:
        for name in self.created:
            try:
                run_async(self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:
                log(f"could not drop {name}: {exc}")
        self.created.clear()


# -- processes ------------------------------------------------------------------------------


class Procs:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[subprocess.Popen] = []

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(extra or {})
        return env

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
        logf = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=self.tmp, env=self.env(env), stderr=logf, stdout=kw.pop("stdout", logf), **kw
        )
        proc.log_path = self.tmp / f"{name}.log"  # type: ignore[attr-defined]
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc, 5)

    def tail(self, proc: subprocess.Popen, lines: int = 30) -> str:
        try:
            return "\n".join(Path(proc.log_path).read_text(errors="replace").splitlines()[-lines:])  # type: ignore[attr-defined]
        except OSError:
            return ""


def wait_http(port: int, proc: subprocess.Popen, procs: Procs, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited ({proc.returncode}):\n{procs.tail(proc)}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout}s:\n{procs.tail(proc)}")


class Inbox:
    """One `python -m server serve` process and its environment."""

    def __init__(self, procs: Procs, db_url: str, meta_port: int, name: str) -> None:
        self.procs, self.db_url, self.name = procs, db_url, name
        self.port = free_port()
        self.settings_env = {
            "DATABASE_URL": db_url,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "bench-verify",
            "WHATSAPP_ACCESS_TOKEN": "bench-access",
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_API_BASE": f"http://127.0.0.1:{meta_port}/v21.0",
            "BROADCAST_URL": "memory://",
            "DEFAULT_REGION": "TZ",
        }
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "server", *args],
            cwd=self.procs.tmp,
            env=self.procs.env(self.settings_env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"python -m server {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout.strip()

    def user(self, email: str, admin: bool) -> int:
        args = ["create-user", email, "--password", PASSWORD] + (["--admin"] if admin else [])
        return int(re.search(r"\(id (\d+)\)", self.cli(*args)).group(1))

    def token(self, email: str) -> str:
        return self.cli("create-token", email).splitlines()[-1]

    def start(self) -> int:
        self.proc = self.procs.spawn(
            self.name,
            ["-m", "server", "serve", "--port", str(self.port), "--log-level", "warning"]
            + ["--ws-compression", WS_COMPRESSION],
            env=self.settings_env,
        )
        wait_http(self.port, self.proc, self.procs)
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None


def load(procs: Procs, mode: str, args: list[str], name: str, timeout: float) -> dict[str, Any]:
    """Run a load process to completion and return what it wrote."""
    out = procs.tmp / f"{name}.json"
    proc = procs.spawn(name, ["-m", "bench.load", mode, *args, "--out", str(out)])
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        raise RuntimeError(f"load {name} did not finish within {timeout}s") from None
    procs.running.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"load {name} failed:\n{procs.tail(proc)}")
    return json.loads(out.read_text())


class Background:
    """A load process that prints READY, then runs until told (stdin) or its own deadline."""

    def __init__(self, procs: Procs, mode: str, args: list[str], name: str, module: str = "bench.load") -> None:
        self.procs, self.name = procs, name
        self.out = procs.tmp / f"{name}.json"
        argv = ["-m", module, *args]
        if module == "bench.load":
            argv = ["-m", module, mode, *args, "--out", str(self.out)]
        self.proc = procs.spawn(
            name,
            argv,
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
        )

    def ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not readable:
                break
            line = self.proc.stdout.readline().decode()  # the load prints nothing else on stdout
            if line.startswith("READY"):
                return line.strip()
            if not line and self.proc.poll() is not None:
                break
        self.procs.stop(self.proc)
        raise RuntimeError(f"{self.name} never got ready:\n{self.procs.tail(self.proc)}")

    def finish(self, timeout: float, tell: bool = True) -> dict[str, Any]:
        if tell and self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write(b"STOP\n")
                self.proc.stdin.flush()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.procs.stop(self.proc)
            raise RuntimeError(f"{self.name} did not stop within {timeout}s") from None
        self.procs.running.remove(self.proc)
        if self.proc.returncode != 0:
            raise RuntimeError(f"{self.name} failed:\n{self.procs.tail(self.proc)}")
        return json.loads(self.out.read_text()) if self.out.exists() else {}


# -- steady webhooks (the clock for push and polling delays) --------------------------------


async def steady_webhooks(
    port: int, rate: float, seconds: float, first_seq: int, run_id: str, contact: int
) -> tuple[dict[int, float], list[float], int]:
    """One single-message webhook every 1/rate s to one conversation; returns when each was
    posted (time.monotonic, which every process on the machine shares), response times and
    failures."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(8):
        c = Conn(port)
        await c.connect()
        pool.put_nowait(c)
    sent: dict[int, float] = {}
    latencies: list[float] = []
    failures = 0

    async def post(seq: int) -> None:
        nonlocal failures
        conn = await pool.get()
        try:
            body = webhook_body([(f"wamid.push.{run_id}.{seq}", wa_id(contact), "Push Customer", f"bench-push-{seq}")])
            raw = webhook_request(conn, body)
            t0 = time.monotonic()
            sent[seq] = t0
            status, _ = await conn.send_raw(raw)
            latencies.append(time.monotonic() - t0)
            if status != 200:
                failures += 1
        except Exception:
            failures += 1
            await conn.close()
        finally:
            pool.put_nowait(conn)

    n = int(rate * seconds)
    start = time.monotonic() + 0.05
    tasks = []
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(post(first_seq + i)))
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    while not pool.empty():
        await pool.get_nowait().close()
    return sent, latencies, failures


async def sample_frames(port: int, token: str, conv: int) -> tuple[str, str]:
    """A message.created and a conversation.updated frame as the inbox sends them, with a
    placeholder where the sequence number goes (the bare server's frames)."""
    message = (await api_get(port, token, f"/api/conversations/{conv}/messages?limit=1"))[-1]
    conversation = (await api_get(port, token, f"/api/conversations?search={quote(message['content'])}"))[0]
    message = {**message, "content": "bare-push-SEQ"}
    conversation = {**conversation, "lastMessage": {**conversation["lastMessage"], "content": "bare-push-SEQ"}}
    created = {"id": 0, "type": "message.created", "conversationId": conv, "data": message}
    updated = {"id": 0, "type": "conversation.updated", "conversationId": conv, "data": conversation}
    return json.dumps(created, separators=(",", ":")), json.dumps(updated, separators=(",", ":"))


async def steady_broadcasts(
    control_port: int, frames: tuple[str, str], rate: float, seconds: float
) -> dict[int, float]:
    """What a webhook makes the inbox send (two frames), from the bare server, every 1/rate s."""
    _, writer = await asyncio.open_connection("127.0.0.1", control_port)
    sent: dict[int, float] = {}
    start = time.monotonic() + 0.05
    try:
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            seq = 5_000_000 + i
            lines = "".join(f.replace("SEQ", str(seq)) + "\n" for f in frames)
            sent[seq] = time.monotonic()
            writer.write(lines.encode())
            await writer.drain()
    finally:
        writer.close()
    return sent


def delays(sent: dict[int, float], receipts: dict[str, list[float]]) -> tuple[list[float], int]:
    out = []
    for seq, times in receipts.items():
        t0 = sent.get(int(seq))
        if t0 is not None:
            out.extend(t - t0 for t in times)
    return out, len(out)


async def api_get(port: int, token: str, path: str) -> Any:
    conn = Conn(port)
    try:
        status, body = await asyncio.wait_for(
            conn.request("GET", path, headers=[("Authorization", f"Bearer {token}")]), 30
        )
    finally:
        await conn.close()
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
    return json.loads(body)


# -- phases ---------------------------------------------------------------------------------


def live_phases(cfg: dict[str, Any], procs: Procs, dbs: Databases, meta_port: int, results: dict[str, Any]) -> None:
    """Memory, push, polling and ingest against one server on a fresh database."""
    inbox = Inbox(procs, dbs.new("live"), meta_port, "server-live")
    inbox.user("admin@bench.example", admin=True)
    token = inbox.token("admin@bench.example")
    pid = inbox.start()
    run_id = uuid.uuid4().hex[:6]
    try:
        # warm the code paths the phases use, then the idle footprint
        contact = 4242
        run_async(steady_webhooks(inbox.port, 20, 0.5, 0, run_id, contact))
        conv = run_async(api_get(inbox.port, token, f"/api/conversations?search={wa_id(contact)}"))[0]["id"]
        time.sleep(1.0)
        results["memory"] = {"rss_mb_idle": rss_mb(pid)}

        # -- push: N websockets, webhooks at a steady rate ------------------------------
        n_ws = cfg["ws_clients"]
        bare_port, control_port = free_port(), free_port()
        bare = Background(
            procs,
            "",
            ["--port", str(bare_port), "--control-port", str(control_port), "--compression", WS_COMPRESSION],
            "bare-ws",
            module="bench.bare_ws",
        )
        bare.ready(30)
        log(f"push: connecting {n_ws} websockets to the inbox and {n_ws} to a bare websockets server")
        ws = Background(
            procs,
            "ws",
            [
                "--port",
                str(inbox.port),
                "--token",
                token,
                "--clients",
                str(n_ws),
                "--bare-port",
                str(bare_port),
                "--duration",
                str(2 * cfg["push_seconds"] + 180),
            ],
            "load-ws",
        )
        line = ws.ready(200)
        connected, failed = (int(x) for x in line.split()[1:3])
        time.sleep(2.0)
        results["memory"]["rss_mb_1000_ws"] = rss_mb(pid)
        results["memory"]["ws_connected"] = connected
        log(f"push: {connected} connected ({failed} failed), {cfg['push_rate']}/s for {cfg['push_seconds']}s")
        cpu = CpuMeter(pid)
        sent, post_lat, post_fail = run_async(
            steady_webhooks(inbox.port, cfg["push_rate"], cfg["push_seconds"], 1000, run_id, contact)
        )
        time.sleep(1.0)
        push_cpu = cpu.percent()
        # The same frames from the bare server to the same clients' twins, at the same rate.
        frames = run_async(sample_frames(inbox.port, token, conv))
        log(f"push: the same frames from the bare websockets server, {cfg['push_rate']}/s")
        bare_sent = run_async(steady_broadcasts(control_port, frames, cfg["push_rate"], cfg["push_seconds"]))
        time.sleep(1.0)
        got = ws.finish(30)
        bare.finish(10)
        lat, n = delays(sent, got["receipts"])
        bare_lat, bare_n = delays(bare_sent, got["bare_receipts"])
        bare_summary = summary_ms(bare_lat)
        expected = len(sent) * got["connected"]
        results["push"] = {
            "clients": got["connected"],
            "connect_failures": got["failed"],
            "closed_early": got["closed_early"],
            "rate_per_s": cfg["push_rate"],
            "webhooks": len(sent),
            "webhook_failures": post_fail,
            "deliveries": n,
            "missing": expected - n,
            "server_cpu_pct": push_cpu,
            "webhook_p50_ms": summary_ms(post_lat)["p50_ms"],
            **summary_ms(lat),
            "bare": {
                "clients": got["bare_connected"],
                "deliveries": bare_n,
                "missing": len(bare_sent) * got["bare_connected"] - bare_n,
                **bare_summary,
            },
        }
        push = results["push"]
        for q in ("p50_ms", "p99_ms"):
            push[f"bare_ratio_{q[:3]}"] = round(push[q] / bare_summary[q], 2) if push[q] and bare_summary[q] else None

        # -- polling: the seed's 3-second poll, measured the same way -----------------------
        def polling(clients: int, seconds: float, name: str, first_seq: int) -> dict[str, Any]:
            latest = run_async(api_get(inbox.port, token, f"/api/conversations/{conv}/messages?limit=1"))
            after = latest[-1]["id"] if latest else 0
            log(f"polling: {clients} pollers every {cfg['poll_interval']}s for {seconds}s")
            bg = Background(
                procs,
                "poll",
                [
                    "--port",
                    str(inbox.port),
                    "--token",
                    token,
                    "--conversation",
                    str(conv),
                    "--after",
                    str(after),
                    "--clients",
                    str(clients),
                    "--interval",
                    str(cfg["poll_interval"]),
                    "--duration",
                    str(seconds + 2 * cfg["poll_interval"] + 1.0),
                ],
                name,
            )
            bg.ready(60)
            time.sleep(cfg["poll_interval"])  # every poller has begun: steady state from here
            cpu = CpuMeter(pid)
            sent, _, fail = run_async(
                steady_webhooks(inbox.port, cfg["push_rate"], seconds, first_seq, run_id, contact)
            )
            cpu_pct = cpu.percent()
            got = bg.finish(seconds + 30, tell=False)
            lat, n = delays(sent, got["receipts"])
            resp = summary_ms(got["latencies"])
            return {
                "clients": clients,
                "interval_s": cfg["poll_interval"],
                "requests": got["requests"],
                "errors": got["errors"] + fail,
                "server_cpu_pct": cpu_pct,
                "response_p50_ms": resp["p50_ms"],
                "response_p99_ms": resp["p99_ms"],
                "deliveries": n,
                "missing": len(sent) * clients - n,
                "delay": summary_ms(lat),
            }

        poll100 = polling(100, cfg["poll_seconds_100"], "load-poll100", 100_000)
        results["push"]["polling_100"] = {k: poll100[k] for k in ("clients", "deliveries", "missing")}
        results["push"]["polling_100"].update({f"delay_{k}": v for k, v in poll100["delay"].items() if k != "n"})
        results["polling"] = polling(1000, cfg["poll_seconds_1000"], "load-poll1000", 200_000)

        # -- ingest: the inbox beside a bare handler, same uvicorn settings ----------------
        ingest: dict[str, Any] = {}
        for target, port in (("server", inbox.port), ("bare", meta_port)):
            for batch in (1, 10):
                log(f"ingest: {target}, {batch} message(s) per webhook, {cfg['ingest_conns']} connections")
                ingest[f"{target}_batch{batch}"] = load(
                    procs,
                    "ingest",
                    [
                        "--port",
                        str(port),
                        "--secret",
                        APP_SECRET,
                        "--conns",
                        str(cfg["ingest_conns"]),
                        "--batch",
                        str(batch),
                        "--warmup",
                        str(cfg["ingest_warmup"]),
                        "--duration",
                        str(cfg["ingest_seconds"]),
                        "--run-id",
                        f"{run_id}{target}{batch}",
                    ],
                    f"load-ingest-{target}-{batch}",
                    cfg["ingest_seconds"] + 60,
                )
        s1, b1, s10, b10 = (ingest[k] for k in ("server_batch1", "bare_batch1", "server_batch10", "bare_batch10"))
        results["ingest"] = {
            "server_rps": s1["rps"],
            "bare_rps": b1["rps"],
            "ratio": round(s1["rps"] / b1["rps"], 3) if b1["rps"] else None,
            "server_p50_ms": s1["p50_ms"],
            "server_p99_ms": s1["p99_ms"],
            "server_errors": s1["errors"],
            "batch10_server_rps": s10["rps"],
            "batch10_server_messages_per_s": s10["messages_per_s"],
            "batch10_bare_rps": b10["rps"],
            "batch10_ratio": round(s10["rps"] / b10["rps"], 3) if b10["rps"] else None,
            "batch10_server_errors": s10["errors"],
            "connections": cfg["ingest_conns"],
            "detail": ingest,
        }
        results["memory"]["rss_mb_after_live"] = rss_mb(pid)
    finally:
        inbox.stop()


def many_dashboards(cfg: dict[str, Any], procs: Procs, dbs: Databases, meta_port: int, results: dict[str, Any]) -> None:
    """10,000 idle websockets on one server (from several client processes): its RSS, then
    the push delay of a slow trickle of webhooks to all of them."""
    inbox = Inbox(procs, dbs.new("many"), meta_port, "server-many")
    inbox.user("admin@bench.example", admin=True)
    token = inbox.token("admin@bench.example")
    pid = inbox.start()
    run_id = uuid.uuid4().hex[:6]
    try:
        contact = 4343
        run_async(steady_webhooks(inbox.port, 20, 0.5, 0, run_id, contact))
        time.sleep(1.0)
        out: dict[str, Any] = {"rss_mb_idle": rss_mb(pid)}
        n, k = cfg["many_clients"], cfg["many_procs"]
        log(f"many dashboards: connecting {n:,} websockets from {k} processes")
        t0 = time.monotonic()
        loads = [
            Background(
                procs,
                "ws",
                ["--port", str(inbox.port), "--token", token, "--clients", str(n // k)]
                + ["--connect-concurrency", "25", "--duration", str(cfg["many_seconds"] + 400)],
                f"load-many-{i}",
            )
            for i in range(k)
        ]
        connected = sum(int(bg.ready(300).split()[1]) for bg in loads)
        out["connect_seconds"] = round(time.monotonic() - t0, 1)
        time.sleep(2.0)
        out["rss_mb"] = rss_mb(pid)
        out["connected"] = connected
        log(f"many dashboards: {connected:,} connected, {cfg['many_rate']}/s for {cfg['many_seconds']}s")
        cpu = CpuMeter(pid)
        sent, _, fail = run_async(
            steady_webhooks(inbox.port, cfg["many_rate"], cfg["many_seconds"], 1000, run_id, contact)
        )
        time.sleep(2.0)
        out["server_cpu_pct"] = cpu.percent()
        receipts: dict[str, list[float]] = {}
        for bg in loads:
            for seq, times in bg.finish(60)["receipts"].items():
                receipts.setdefault(seq, []).extend(times)
        lat, got = delays(sent, receipts)
        out.update(
            webhooks=len(sent),
            webhook_failures=fail,
            deliveries=got,
            missing=len(sent) * connected - got,
            rss_mb_after=rss_mb(pid),
            **summary_ms(lat),
        )
        results["many"] = out
    finally:
        inbox.stop()


def large_inbox(cfg: dict[str, Any], procs: Procs, dbs: Databases, meta_port: int, results: dict[str, Any]) -> None:
    inbox = Inbox(procs, dbs.new("large"), meta_port, "server-large")
    admin_id = inbox.user("admin@bench.example", admin=True)
    agent_id = inbox.user("agent@bench.example", admin=False)
    plan = seed.Plan(cfg["large_conversations"], cfg["large_messages"], admin_id, agent_id)
    log(f"large inbox: inserting {plan.conversations:,} conversations, {plan.messages:,} messages")
    t0 = time.monotonic()
    if dbs.kind == "sqlite":
        seed.seed_sqlite(dbs.sqlite_path(inbox.db_url), plan)
    else:
        run_async(seed.seed_postgres(inbox.db_url, plan))
    seed_s = round(time.monotonic() - t0, 1)
    log(f"large inbox: inserted in {seed_s}s")
    admin, agent = inbox.token("admin@bench.example"), inbox.token("agent@bench.example")
    pid = inbox.start()
    rng = random.Random(7)
    try:
        out: dict[str, Any] = {"size": {**seed.describe(plan), "insert_seconds": seed_s}}
        samples = cfg["query_samples"]
        long = plan.long_conversations or list(range(1, plan.conversations + 1))
        unread = list(plan.unread_conversations)
        rng.shuffle(unread)
        names = rng.sample(plan.names, min(len(plan.names), samples + 10))
        queries: dict[str, Any] = {
            "conversations_page": lambda i: ("GET", "/api/conversations?limit=50", admin),
            "conversations_page_agent": lambda i: ("GET", "/api/conversations?limit=50", agent),
            # The team inbox's everyday views: my open work, and the queue.
            "filtered_page_agent": lambda i: (
                "GET",
                "/api/conversations?limit=50&status=open,pending&assignee=me",
                agent,
            ),
            "filtered_page_queue": lambda i: (
                "GET",
                "/api/conversations?limit=50&status=open&assignee=unassigned",
                admin,
            ),
            "search": lambda i: (
                "GET",
                "/api/conversations?limit=50&search=" + quote(names[i % len(names)].lower()),
                admin,
            ),
            "message_history": lambda i: ("GET", f"/api/conversations/{rng.choice(long)}/messages?limit=50", admin),
            "mark_read": lambda i: ("POST", f"/api/conversations/{unread[i % len(unread)]}/read", admin),
        }
        out.update(run_async(measure_queries(inbox.port, queries, samples, cfg["query_budget_s"])))
        out["rss_mb_after"] = rss_mb(pid)
        results["large_inbox"] = out
    finally:
        inbox.stop()


async def measure_queries(port: int, queries: dict[str, Any], samples: int, budget: float) -> dict[str, Any]:
    """Each query `samples` times one after another (a few warm-ups first), or as many as
    fit in `budget` seconds."""
    out: dict[str, Any] = {}
    conn = Conn(port)
    await conn.connect()
    try:
        for name, make in queries.items():
            log(f"large inbox: {name}")
            times: list[float] = []
            statuses: dict[int, int] = {}
            deadline = time.monotonic() + budget
            for i in range(samples + 3):
                method, path, token = make(i)
                t0 = time.monotonic()
                status, _ = await asyncio.wait_for(
                    conn.request(
                        method, path, b"" if method == "GET" else b"{}", headers=[("Authorization", f"Bearer {token}")]
                    ),
                    120,
                )
                elapsed = time.monotonic() - t0
                statuses[status] = statuses.get(status, 0) + 1
                if i >= 3:
                    times.append(elapsed)
                if time.monotonic() > deadline:
                    break
            out[name] = {**summary_ms(times), "statuses": statuses}
    finally:
        await conn.close()
    return out


# -- report ---------------------------------------------------------------------------------


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        v = f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "MISSED")


def within(figures: dict[str, Any], *targets: str) -> bool:
    """Every figure named by a TARGETS key (push_p50_ms -> figures["p50_ms"]) at most its target."""
    for key in targets:
        value = figures.get(key.split("_", 1)[1])
        if value is None or value > TARGETS[key]:
            return False
    return True


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    ing = results.get("ingest")
    if ing:
        rows += [
            (
                "ingest",
                "webhooks/s, 1 message each: server | bare",
                f"{fmt(ing['server_rps'])} | {fmt(ing['bare_rps'])}",
                "",
            ),
            (
                "ingest",
                "ratio server/bare",
                fmt(ing["ratio"]),
                f">= 0.5  {verdict(ing['ratio'] is not None and ing['ratio'] >= TARGETS['ingest_ratio'])}",
            ),
            (
                "ingest",
                "server latency p50 | p99 (64 conns)",
                f"{fmt(ing['server_p50_ms'])} | {fmt(ing['server_p99_ms'])} ms",
                "",
            ),
            (
                "ingest",
                "webhooks/s, 10 messages each: server | bare",
                f"{fmt(ing['batch10_server_rps'])} | {fmt(ing['batch10_bare_rps'])}",
                "",
            ),
            (
                "ingest",
                "messages/s stored in batches of 10 | ratio",
                f"{fmt(ing['batch10_server_messages_per_s'])} | {fmt(ing['batch10_ratio'])}",
                "",
            ),
        ]
    push = results.get("push")
    if push:
        rows += [
            (
                "push",
                f"websocket clients | webhooks at {fmt(push['rate_per_s'])}/s",
                f"{fmt(push['clients'])} | {fmt(push['webhooks'])}",
                "",
            ),
            (
                "push",
                "POST -> message.created p50 | p99 | max",
                f"{fmt(push['p50_ms'])} | {fmt(push['p99_ms'])} | {fmt(push['max_ms'])} ms",
                f"<= 10 | <= 50 ms  {verdict(within(push, 'push_p50_ms', 'push_p99_ms'))}",
            ),
            (
                "push",
                "deliveries | missing | server CPU",
                f"{fmt(push['deliveries'])} | {fmt(push['missing'])} | {fmt(push['server_cpu_pct'])}%",
                "",
            ),
        ]
        bare = push.get("bare")
        if bare:
            rows += [
                (
                    "push",
                    f"bare websockets server, same frames, {fmt(bare['clients'])} clients: p50 | p99",
                    f"{fmt(bare['p50_ms'])} | {fmt(bare['p99_ms'])} ms (missing {fmt(bare['missing'])})",
                    "",
                ),
                (
                    "push",
                    "inbox / bare: p50 | p99",
                    f"{fmt(push.get('bare_ratio_p50'))} | {fmt(push.get('bare_ratio_p99'))}",
                    "",
                ),
            ]
        p = push.get("polling_100")
        if p:
            rows.append(
                (
                    "push",
                    "vs 100 pollers every 3 s: delay p50 | p99 | mean",
                    f"{fmt(p['delay_p50_ms'])} | {fmt(p['delay_p99_ms'])} | {fmt(p['delay_mean_ms'])} ms",
                    "mean ~1500 expected",
                )
            )
    pol = results.get("polling")
    if pol:
        rows += [
            (
                "polling",
                f"{fmt(pol['clients'])} pollers every {fmt(pol['interval_s'])} s: server CPU",
                f"{fmt(pol['server_cpu_pct'])}%",
                "",
            ),
            ("polling", "response p50 | p99", f"{fmt(pol['response_p50_ms'])} | {fmt(pol['response_p99_ms'])} ms", ""),
            ("polling", "requests | errors", f"{fmt(pol['requests'])} | {fmt(pol['errors'])}", ""),
        ]
    big = results.get("large_inbox")
    if big:
        size = big["size"]
        rows.append(
            (
                "large inbox",
                "conversations | messages (insert s)",
                f"{fmt(size['conversations'])} | {fmt(size['messages'])} ({fmt(size['insert_seconds'])})",
                "",
            )
        )
        for name in (
            "conversations_page",
            "conversations_page_agent",
            "filtered_page_agent",
            "filtered_page_queue",
            "search",
            "message_history",
            "mark_read",
        ):
            q = big.get(name)
            if q:
                ok = q["p95_ms"] is not None and q["p95_ms"] <= TARGETS["query_p95_ms"]
                rows.append(
                    (
                        "large inbox",
                        f"{name} p50 | p95 (n={q['n']})",
                        f"{fmt(q['p50_ms'])} | {fmt(q['p95_ms'])} ms",
                        f"p95 <= 20 ms  {verdict(ok)}",
                    )
                )
    mem = results.get("memory")
    if mem:
        rss_ws = mem.get("rss_mb_1000_ws")
        rows += [
            ("memory", "server RSS idle", fmt(mem.get("rss_mb_idle"), " MB"), ""),
            (
                "memory",
                f"server RSS with {fmt(mem.get('ws_connected'))} idle websockets",
                fmt(mem.get("rss_mb_1000_ws"), " MB"),
                f"<= 100 MB  {verdict(rss_ws is not None and rss_ws <= TARGETS['rss_1000_ws_mb'])}",
            ),
        ]
    many = results.get("many")
    if many:
        ok_rss = many.get("rss_mb") is not None and many["rss_mb"] <= TARGETS["rss_10000_ws_mb"]
        rows += [
            (
                "10k dashboards",
                f"server RSS with {fmt(many['connected'])} idle websockets (idle {fmt(many['rss_mb_idle'])})",
                fmt(many.get("rss_mb"), " MB"),
                f"<= 600 MB  {verdict(ok_rss)}",
            ),
            (
                "10k dashboards",
                f"POST -> message.created p50 | p99 ({fmt(many['webhooks'])} webhooks)",
                f"{fmt(many['p50_ms'])} | {fmt(many['p99_ms'])} ms",
                "",
            ),
            (
                "10k dashboards",
                "deliveries | missing | connect s | server CPU",
                f"{fmt(many['deliveries'])} | {fmt(many['missing'])} | {fmt(many['connect_seconds'])}"
                f" | {fmt(many['server_cpu_pct'])}%",
                "",
            ),
        ]
    widths = [max(len(r[i]) for r in rows + [("phase", "measure", "figure", "target")]) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    head = line(("phase", "measure", "figure", "target"))
    return "\n".join([head, "-" * len(head)] + [line(r) for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["live", "many", "large"], help="run one part only")
    parser.add_argument(
        "--ws-compression",
        choices=["none", "deflate"],
        default="none",
        help="start the servers under test accepting permessage-deflate (the measurement behind the default)",
    )
    args = parser.parse_args()
    global WS_COMPRESSION
    WS_COMPRESSION = args.ws_compression
    quick = os.environ.get("QUICK", "").strip().lower() not in ("", "0", "false", "no")
    cfg = QUICK if quick else FULL
    nofile = raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    procs = Procs(tmp)
    dbs = Databases(os.environ.get("DATABASE_URL", ""), tmp)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "commit": commit or None,
        "quick": quick,
        "database": dbs.kind,
        "cores": os.cpu_count(),
        "nofile": nofile,
        "config": cfg,
        "ws_compression": WS_COMPRESSION,
    }
    started = time.monotonic()
    log(f"{'QUICK' if quick else 'full'} run on {dbs.kind}; work files in {tmp}")
    ok = False
    try:
        meta_port = free_port()
        bare = procs.spawn("bare", ["-m", "bench.bare_app", "--port", str(meta_port)])
        wait_http(meta_port, bare, procs)
        if args.only in (None, "live"):
            live_phases(cfg, procs, dbs, meta_port, results)
        if args.only in (None, "many"):
            many_dashboards(cfg, procs, dbs, meta_port, results)
        if args.only in (None, "large"):
            large_inbox(cfg, procs, dbs, meta_port, results)
        ok = True
    finally:
        procs.stop_all()
        dbs.drop_all()
        results["seconds"] = round(time.monotonic() - started, 1)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        if ok or os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"logs kept in {tmp}")
    print(table(results))
    print(
        f"\n{'QUICK' if quick else 'full'} run on {dbs.kind}, commit {commit}, {results['seconds']} s; "
        f"figures in {RESULTS.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
