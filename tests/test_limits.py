"""Bodies are bounded while they stream: a chunked body without Content-Length gets its 413
as soon as the route's limit is passed, and parallel huge streams barely move the server's
memory."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import DATABASES
from tests.processes import server_env, server_process, stream_chunked
from tests.servers import Stack, database_url

pytestmark = pytest.mark.asyncio(loop_scope="session")

MB = 1024 * 1024


def _port(inbox: Stack) -> int:
    return int(inbox.base_url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("path", "limit", "signed_in"),
    [("/webhook", 10 * MB, False), ("/api/auth/login", 1 * MB, False), ("/api/conversations/send", 1 * MB, True)],
)
async def test_chunked_body_gets_413_as_soon_as_the_limit_is_passed(
    inbox: Stack, path: str, limit: int, signed_in: bool
) -> None:
    headers = {"Authorization": f"Bearer {(await inbox.user()).token}"} if signed_in else {}
    result = await stream_chunked(_port(inbox), path, 256 * MB, headers=headers)
    assert result.status == 413, result
    assert "too large" in json.loads(result.body)["error"]
    # Answered while the client was still sending, not after the whole 256 MB.
    assert result.sent < limit + 16 * MB, result.sent


async def test_upload_gets_413_past_whatsapps_largest_file(inbox: Stack) -> None:
    agent = await inbox.user()
    result = await stream_chunked(
        _port(inbox),
        "/api/conversations/send",
        256 * MB,
        headers={"Authorization": f"Bearer {agent.token}", "Content-Type": "multipart/form-data; boundary=x"},
        prefix=b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n",
    )
    assert result.status == 413, result
    assert "101 MB" in json.loads(result.body)["error"]
    assert result.sent < 101 * MB + 16 * MB, result.sent


async def test_declared_length_over_the_limit_is_refused_before_reading(inbox: Stack) -> None:
    r = await inbox.http.post(
        f"{inbox.base_url}/api/auth/login", content=b"{" + b" " * (2 * MB) + b"}", headers={"Content-Type": "x"}
    )
    assert r.status_code == 413
    assert "1 MB" in r.json()["error"]
    # A body within the limit still reaches the route.
    r = await inbox.http.post(f"{inbox.base_url}/api/auth/login", json={"email": "a@b.c", "password": "x" * 1000})
    assert r.status_code == 401


@pytest.mark.skipif("sqlite" not in DATABASES, reason="runs on SQLite")
async def test_parallel_huge_streams_barely_raise_the_servers_memory(tmp_path: Any) -> None:
    async with database_url("sqlite", tmp_path) as url:
        async with server_process(server_env(url), tmp_path) as server:
            peak_before = server.status_kb("VmHWM")
            results = await asyncio.gather(
                *(stream_chunked(server.port, path, 256 * MB) for path in ["/webhook", "/api/auth/login"] * 2)
            )
            peak_after = server.status_kb("VmHWM")
            print(f"server peak RSS {peak_before / 1024:.0f} MB before, {peak_after / 1024:.0f} MB after 4 x 256 MB")
            assert [r.status for r in results] == [413] * 4, results
            assert peak_after - peak_before < 50 * 1024, (peak_before, peak_after)
