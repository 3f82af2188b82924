"""uvicorn's websocket protocol, plus a direct line for live events.

Through ASGI every frame costs one `await send(...)` per connection: a task switch, a frame
encoding (and, with permessage-deflate, a compression) for each of them. Live events are the
same bytes for everyone who may see them, so the hub encodes each one once and writes it to
every connection's transport synchronously through the `FrameChannel` this protocol puts in
the websocket scope (`scope["extensions"][EXTENSION]`). Without it (another ASGI server) the
hub falls back to sending through ASGI.

The channel only writes data frames while the websocket is open, never touches the
handshake, and closes the way uvicorn itself does (close frame, then a timer), so the
protocol's own state stays true; except that when the timer fires, the transport is aborted
rather than closed (a client that stopped reading must not keep the connection open).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "inbox.frames"


class FrameChannel:
    """Synchronous writes of pre-encoded text frames to one websocket."""

    def __init__(self, protocol: InboxWebSocketProtocol) -> None:
        self._protocol = protocol
        # Called when a full transport buffer has drained (the hub then sends what waited).
        self.on_writable: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        p = self._protocol
        return not p.close_sent and not p.disconnected and p.conn.state is State.OPEN and not p.transport.is_closing()

    @property
    def writable(self) -> bool:
        """False while the transport's buffer is above its high-water mark."""
        return self._protocol.writable.is_set()

    @property
    def compressed(self) -> bool:
        """permessage-deflate was negotiated: frames must be compressed per connection."""
        return bool(self._protocol.conn.extensions)

    def send(self, frames: bytes, texts: list[str]) -> None:
        """`frames` are the encoded, uncompressed frames of `texts`, in order."""
        if not self.open:
            return
        p = self._protocol
        if self.compressed:
            for text in texts:
                p.conn.send_text(text.encode())
            p.transport.write(b"".join(p.conn.data_to_send()))
        else:
            p.transport.write(frames)

    def close(self, code: int, reason: str) -> None:
        """A close frame now, even above the high-water mark (what is buffered goes first)."""
        p = self._protocol
        if not self.open:
            return
        p.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        p.conn.send_close(code, reason)
        p.transport.write(b"".join(p.conn.data_to_send()))
        p.close_sent = True
        if p.read_paused:
            p.read_paused = False
            p.transport.resume_reading()
        # uvicorn's timer would `close()`, which waits for the buffer to drain: a client that
        # never reads again would hold the connection ESTABLISHED, buffers and all. Abort.
        p.close_timer = p.loop.call_later(p.close_timeout, p.transport.abort)


class InboxWebSocketProtocol(WebSocketsSansIOProtocol):
    """`ws=` for uvicorn (see `server.__main__.uvicorn_config`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = FrameChannel(self)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None and self.response.status_code == 101:
            scope["extensions"][EXTENSION] = self.channel

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.channel.on_writable is not None:
            self.channel.on_writable()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.channel.on_writable = None
