"""The transport the server streams on: WebSocket client connections, their failures
translated into `StreamBroken` at this boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    WebSocketException,
)

from app.errors import StreamBroken
from app.ingest.live.transport import FeedSocket
from app.redact import without_secrets

_FAILURES = (OSError, TimeoutError, InvalidHandshake, InvalidURI, WebSocketException)


def _broken(e: BaseException) -> StreamBroken:
    return StreamBroken(f"{type(e).__name__}: {without_secrets(str(e))}")


class _WebSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    def __aiter__(self) -> _WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self._ws.recv()
        except ConnectionClosedOK as e:
            raise StopAsyncIteration from e
        except _FAILURES as e:
            raise _broken(e) from e

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except _FAILURES as e:
            raise _broken(e) from e

    def abort(self) -> None:
        if self._ws.transport is not None:
            self._ws.transport.abort()


class WebSocketTransport:
    def __init__(self, open_timeout_s: float = 10.0, max_frame_bytes: int = 2**22) -> None:
        self._open_timeout_s = open_timeout_s
        self._max_frame_bytes = max_frame_bytes

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[FeedSocket]:
        try:
            async with connect(
                url,
                open_timeout=self._open_timeout_s,
                ping_interval=None,  # the venue pings or wants its own heartbeat
                close_timeout=2,
                max_size=self._max_frame_bytes,
            ) as ws:
                yield _WebSocket(ws)
        except _FAILURES as e:
            raise _broken(e) from e
