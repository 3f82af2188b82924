"""uvicorn's HTTP protocol (httptools), plus a deadline for the request headers.

uvicorn has no such deadline: its keep-alive timer is cancelled by any byte received, so a
client that sends half a request line and then a byte now and then (slowloris) holds its
connection, and its file descriptor, for as long as it likes; 1,100 of them starved the
server of descriptors and Meta's webhooks failed. Here every connection must finish each
request's headers within HEADER_TIMEOUT seconds of the connection opening (or of the
previous response), however slowly the bytes trickle in; otherwise it gets a 408 and is
closed. Bodies are not under this deadline (a large upload on a slow link is fine).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 5.0
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b'content-length: 72\r\n\r\n{"error":"request headers not received in time","code":"header_timeout"}'
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMED_OUT)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()  # before a websocket upgrade hands the transport to another protocol
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request, its headers already in
        if not self.transport.is_closing():
            self._arm()  # the next request on this kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
