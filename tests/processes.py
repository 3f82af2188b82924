"""A real server process (`python -m server serve`) for attacks that measure the server itself:
its memory from /proc, its file descriptors, its whole log output. And a raw HTTP/1.1 client
that streams a chunked body while it listens for the answer, as an attacker would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.servers import APP_SECRET, VERIFY_TOKEN, free_port


def server_env(db_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
        **extra,
    }


@dataclass
class ServerProcess:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def status_kb(self, field: str) -> int:
        """`VmRSS`, `VmHWM` (the peak RSS so far)… of the server, in kB, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def cli(env: dict[str, str], cwd: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@contextlib.asynccontextmanager
async def server_process(
    env: dict[str, str], cwd: Any, log_level: str = "warning", max_fds: int | None = None
) -> AsyncIterator[ServerProcess]:
    """The server on a free port; `max_fds` lowers its open-file limit (a common default is 1024)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", dir=cwd, delete=False)  # noqa: SIM115
    limit: Callable[[], None] | None = None
    if max_fds is not None:

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port), "--log-level", log_level],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=limit,
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", port, proc, Path(log.name))
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get(f"{server.url}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {server.output()[-2000:]}")
                await asyncio.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def raise_fd_limit(wanted: int) -> None:
    """This test process needs many sockets at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


@dataclass
class StreamResult:
    status: int | None  # None: the connection ended without an answer
    body: bytes
    sent: int  # body bytes written before the answer came (or the connection broke)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def stream_chunked(
    port: int,
    path: str,
    total: int,
    headers: dict[str, str] | None = None,
    chunk: int = 64 * 1024,
    prefix: bytes = b"",
) -> StreamResult:
    """POST `prefix` then `total` bytes with `Transfer-Encoding: chunked` (no Content-Length),
    stopping as soon as the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        head += f"{name}: {value}\r\n"
    writer.write(head.encode() + b"\r\n")
    if prefix:
        writer.write(b"%x\r\n" % len(prefix) + prefix + b"\r\n")
    answer = asyncio.create_task(_read_response(reader))
    piece = b"%x\r\n" % chunk + b"[" * chunk + b"\r\n"
    sent = 0
    try:
        while sent < total and not answer.done():
            writer.write(piece)
            sent += chunk
            await writer.drain()
        if not answer.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except OSError:
        pass  # the server closed the connection: its answer, if any, is already on the way
    try:
        status, body = await asyncio.wait_for(answer, 60)
    except (OSError, asyncio.IncompleteReadError):
        status, body = None, b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return StreamResult(status, body, sent)
