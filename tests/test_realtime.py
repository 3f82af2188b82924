"""Live push over a real websocket: what a connected dashboard receives, and when."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.db import now_ms
from tests.servers import Agent, Stack, database_url, eventually, new_phone, stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ws_url(inbox: Stack, agent: Agent | None, since: int | None = None, token: str | None = None) -> str:
    url = inbox.base_url.replace("http://", "ws://") + f"/ws?token={token or agent.token}"
    return url if since is None else url + f"&since={since}"


async def next_event(
    ws: ClientConnection, type_: str | None = None, timeout: float = 5.0, where: Any = None
) -> dict[str, Any]:
    """The next event (of `type_`, matching `where`), skipping others."""

    async def wait() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            if (type_ is None or event["type"] == type_) and (where is None or where(event)):
                return event

    return await asyncio.wait_for(wait(), timeout)


async def drain(ws: ClientConnection, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Everything that arrives until the socket has been quiet for `quiet` seconds."""
    events = []
    while True:
        try:
            events.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except TimeoutError:
            return events


async def test_bad_token_is_closed_with_4401(inbox: Stack) -> None:
    async with connect(ws_url(inbox, None, token="nope")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd.code == 4401


async def test_inbound_message_reaches_owner_live(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await inbox.user()
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Live", "phoneNumber": phone})
    async with connect(ws_url(inbox, agent)) as ws:
        await inbox.customer_writes(phone.lstrip("+"), "live hello", name="Live")
        created = await next_event(ws, "message.created")
        assert created["data"]["content"] == "live hello"
        assert created["data"]["direction"] == "inbound"
        updated = await next_event(ws, "conversation.updated")
        assert updated["conversationId"] == created["conversationId"]
        assert updated["data"]["unreadCount"] == 1
        assert updated["data"]["lastMessage"]["content"] == "live hello"
        assert updated["id"] > created["id"]


async def test_reply_statuses_arrive_as_message_updated(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await inbox.user()
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Ticks", "phoneNumber": phone})
    await inbox.customer_writes(phone.lstrip("+"), "hi")
    async with connect(ws_url(inbox, agent)) as ws:
        r = await agent.send(phoneNumber=phone, content="reply")
        assert r.status_code == 201
        message_id = r.json()["id"]
        seen = []
        while "read" not in seen:
            event = await next_event(ws, "message.updated", where=lambda e: e["data"]["id"] == message_id)
            seen.append(event["data"]["status"])
        assert seen[-1] == "read"
        order = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}
        assert [order[s] for s in seen] == sorted(order[s] for s in seen), seen


async def test_users_never_receive_each_others_events(meta_reset: Stack) -> None:
    inbox = meta_reset
    alice, bob, admin = await inbox.user(), await inbox.user(), await inbox.user(admin=True)
    alice_phone, bob_phone, stranger = new_phone(), new_phone(), new_phone()
    await alice.post("/api/invitations", {"name": "A", "phoneNumber": alice_phone})
    await bob.post("/api/invitations", {"name": "B", "phoneNumber": bob_phone})
    async with (
        connect(ws_url(inbox, alice)) as wa,
        connect(ws_url(inbox, bob)) as wb,
        connect(ws_url(inbox, admin)) as wadmin,
    ):
        await inbox.customer_writes(bob_phone.lstrip("+"), "for bob")
        await inbox.customer_writes(stranger.lstrip("+"), "for nobody")
        await inbox.customer_writes(alice_phone.lstrip("+"), "for alice")
        alice_events = await drain(wa)
        bob_events = await drain(wb)
        admin_events = await drain(wadmin)
    contents = lambda evs: {e["data"]["content"] for e in evs if e["type"] == "message.created"}  # noqa: E731
    assert contents(alice_events) == {"for alice"}
    assert contents(bob_events) == {"for bob"}
    assert {"for alice", "for bob", "for nobody"} <= contents(admin_events)


async def test_reconnect_with_since_gets_exactly_what_was_missed(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await inbox.user()
    phone = new_phone()
    await agent.post("/api/invitations", {"name": "Resume", "phoneNumber": phone})
    async with connect(ws_url(inbox, agent)) as ws:
        await inbox.customer_writes(phone.lstrip("+"), "before drop")
        last = (await next_event(ws, "conversation.updated"))["id"]
    for i in range(5):
        await inbox.customer_writes(phone.lstrip("+"), f"while away {i}")
    async with connect(ws_url(inbox, agent, since=last)) as ws:
        await inbox.customer_writes(phone.lstrip("+"), "after reconnect")
        events = await drain(ws, quiet=0.5)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), ids
    assert all(i > last for i in ids)
    created = [e["data"]["content"] for e in events if e["type"] == "message.created"]
    assert created == [f"while away {i}" for i in range(5)] + ["after reconnect"]
    # The polling fallback returns the same events.
    r = await agent.get("/api/events", since=last)
    assert r.status_code == 200
    assert [e["id"] for e in r.json()["events"]] == ids
    assert r.json()["lastId"] >= ids[-1]


async def test_since_older_than_kept_events_gets_resync(meta_reset: Stack) -> None:
    inbox = meta_reset
    agent = await inbox.user(admin=True)
    phone = new_phone()
    await inbox.customer_writes(phone.lstrip("+"), "old news")
    r = await agent.get("/api/events", since=0)
    first_ids = [e["id"] for e in r.json()["events"]]
    assert first_ids
    await inbox.app.state.store.prune_events(now_ms() + 1)  # as if 24 h had passed
    await inbox.customer_writes(phone.lstrip("+"), "new news")
    stale = first_ids[0] - 1
    async with connect(ws_url(inbox, agent, since=max(stale, 1))) as ws:
        event = await next_event(ws)
    assert event["type"] == "resync"
    r = await agent.get("/api/events", since=max(stale, 1))
    assert [e["type"] for e in r.json()["events"]] == ["resync"]


async def open_stuck_client(inbox: Stack, agent: Agent) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket client that completes the handshake, then stops reading altogether
    (a frozen tab, a dead mobile link): a plain socket with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    port = int(inbox.base_url.rsplit(":", 1)[1])
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(
        f"GET /ws?token={agent.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    writer.transport.pause_reading()
    return reader, writer


# Live events go out through the inbox's own websocket protocol (server/ws_protocol.py); under
# stock uvicorn protocols they go through ASGI instead. Both keep the slow-client rule.
@pytest.mark.parametrize("ws_impl", ["inbox", "websockets-sansio"])
async def test_stuck_client_does_not_delay_another(tmp_path: Any, ws_impl: str) -> None:
    options = {} if ws_impl == "inbox" else {"ws": ws_impl}
    async with database_url("sqlite", tmp_path) as url, stack(url, uvicorn_options=options, ws_queue_size=20) as inbox:
        admin = await inbox.user(admin=True)
        stuck_reader, stuck_writer = await open_stuck_client(inbox, admin)
        async with connect(ws_url(inbox, admin)) as healthy:
            phone = new_phone().lstrip("+")
            text = "x" * 50_000  # big frames fill the socket buffers quickly
            received: list[str] = []

            async def read_healthy() -> None:
                while len(received) < 100:
                    event = json.loads(await healthy.recv())
                    if event["type"] == "message.created":
                        received.append(event["data"]["content"])

            reader = asyncio.create_task(read_healthy())
            for i in range(100):
                await inbox.customer_writes(phone, f"{i} {text}")
            await asyncio.wait_for(reader, 30)
            assert [c.split(" ")[0] for c in received] == [str(i) for i in range(100)]

        if ws_impl != "inbox":
            stuck_writer.close()  # through ASGI a resync can only wait for room that never comes
            return
        # The stuck one was cut loose: once it reads again it finds a resync, then close 4008.
        stuck_writer.transport.resume_reading()
        tail = b""
        while chunk := await asyncio.wait_for(stuck_reader.read(1 << 20), 10):
            tail = (tail + chunk)[-4096:]
        stuck_writer.close()
        assert b'"type":"resync"' in tail
        assert b"\x88" in tail and (4008).to_bytes(2, "big") in tail.rsplit(b"\x88", 1)[1]


async def test_dashboards_offering_permessage_deflate_get_plain_frames(meta_reset: Stack) -> None:
    """Browsers offer compression; the server declines it (small events, memory per socket)."""
    inbox = meta_reset
    admin = await inbox.user(admin=True)
    async with connect(ws_url(inbox, admin), compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        phone = new_phone().lstrip("+")
        await inbox.customer_writes(phone, "plain frame")
        created = await next_event(ws, "message.created", where=lambda e: e["data"]["content"] == "plain frame")
        assert created["data"]["direction"] == "inbound"


async def test_client_that_never_reads_again_is_aborted(tmp_path: Any) -> None:
    """Told to resync and closed, a client that still reads nothing is cut off (RST), not left
    ESTABLISHED with full buffers on the server."""
    async with database_url("sqlite", tmp_path) as url, stack(url, ws_queue_size=5) as inbox:
        admin = await inbox.user(admin=True)
        stuck_reader, stuck_writer = await open_stuck_client(inbox, admin)
        phone = new_phone().lstrip("+")
        for i in range(40):
            await inbox.customer_writes(phone, f"{i} " + "x" * 50_000)
        server_port = int(inbox.base_url.rsplit(":", 1)[1])
        client_port = stuck_writer.get_extra_info("sockname")[1]
        gone = await eventually(lambda: _not_established(server_port, client_port), timeout=30, interval=0.2)
        assert gone, tcp_state(server_port, client_port)
        stuck_writer.transport.resume_reading()
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(stuck_reader.read(1 << 20), 10):
                pass
        stuck_writer.close()


def tcp_state(local_port: int, remote_port: int) -> str | None:
    """The kernel's state of the server's side of a loopback connection (/proc/net/tcp), or None."""
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            return {"01": "ESTABLISHED"}.get(fields[3], fields[3])
    return None


async def _not_established(local_port: int, remote_port: int) -> bool:
    return tcp_state(local_port, remote_port) != "ESTABLISHED"


@pytest.mark.parametrize("ws_impl", ["inbox", "websockets-sansio"])
async def test_live_events_when_compression_is_on(tmp_path: Any, ws_impl: str) -> None:
    """`serve --ws-compression deflate`: each connection gets its own compressed frames."""
    options: dict[str, Any] = {"ws_per_message_deflate": True}
    if ws_impl != "inbox":
        options["ws"] = ws_impl
    async with database_url("sqlite", tmp_path) as url, stack(url, uvicorn_options=options) as inbox:
        admin = await inbox.user(admin=True)
        async with (
            connect(ws_url(inbox, admin), compression="deflate") as zipped,
            connect(ws_url(inbox, admin), compression=None) as plain,
        ):
            assert "permessage-deflate" in zipped.response.headers.get("Sec-WebSocket-Extensions", "")
            assert plain.response.headers.get("Sec-WebSocket-Extensions") is None
            phone = new_phone().lstrip("+")
            for i in range(5):
                await inbox.customer_writes(phone, f"zipped {i} " + "la" * 200)
            for ws in (zipped, plain):
                got = []
                while len(got) < 5:
                    event = await next_event(ws, "message.created")
                    got.append(event["data"]["content"].split(" ")[1])
                assert got == [str(i) for i in range(5)]
