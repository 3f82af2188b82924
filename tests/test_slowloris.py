"""Slowloris against a real server process with a common open-file limit (1024): 1,100
connections that send half a request header and then trickle a byte now and then. They are
dropped after a few seconds, and a signed webhook posted during the attack is answered 200."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest

from server.signature import sign
from tests.conftest import DATABASES
from tests.processes import raise_fd_limit, server_env, server_process
from tests.servers import APP_SECRET, database_url, new_phone
from tests.test_multiprocess import webhook_body

pytestmark = pytest.mark.asyncio(loop_scope="session")

ATTACKERS = 1100


@pytest.mark.skipif("sqlite" not in DATABASES, reason="runs on SQLite")
async def test_half_open_headers_are_dropped_and_webhooks_still_answered(tmp_path: Any) -> None:
    raise_fd_limit(ATTACKERS * 2 + 200)
    async with database_url("sqlite", tmp_path) as url:
        async with server_process(server_env(url), tmp_path, max_fds=1024) as server:
            connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            for _ in range(ATTACKERS):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-a: ")
                connections.append((reader, writer))
            stop = asyncio.Event()

            async def trickle() -> None:  # keep every connection "busy", a byte per second
                while not stop.is_set():
                    for _, writer in connections:
                        with contextlib.suppress(Exception):
                            writer.write(b"a")
                    await asyncio.sleep(1)

            trickling = asyncio.create_task(trickle())
            try:
                phone = new_phone().lstrip("+")
                raw = webhook_body(phone, "during slowloris", f"wamid.slow.{phone}")
                # Like Meta, the sender retries a delivery whose connection failed.
                status: int | None = None
                signed = {"X-Hub-Signature-256": sign(APP_SECRET, raw), "Content-Type": "application/json"}
                async with httpx.AsyncClient(timeout=30) as http:
                    for _ in range(20):
                        try:
                            r = await http.post(
                                f"{server.url}/webhook",
                                content=raw,
                                headers=signed,
                            )
                            status = r.status_code
                            break
                        except httpx.TransportError:
                            await asyncio.sleep(1)
                assert status == 200, status

                async def dropped(reader: asyncio.StreamReader) -> bool:
                    try:
                        data = await asyncio.wait_for(reader.read(), 30)
                    except ConnectionError:
                        return True  # reset: dropped too
                    except TimeoutError:
                        return False  # still held open by the server
                    return data == b"" or data.startswith(b"HTTP/1.1 408")

                results = await asyncio.gather(*(dropped(reader) for reader, _ in connections[:200]))
                assert all(results), results.count(False)
            finally:
                stop.set()
                trickling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await trickling
                for _, writer in connections:
                    writer.close()
