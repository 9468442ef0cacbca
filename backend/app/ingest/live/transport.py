"""How live ingest reaches a venue's stream: a transport opens the feed's URL and hands
back a socket of frames. The server runs on WebSockets (`websocket.py`); the seam is
what lets the engine run on an in-memory venue in its own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class FeedSocket(Protocol):
    """One open stream. Iterating yields its frames and ends when the venue closes it
    cleanly; every other ending raises `StreamBroken`."""

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...

    async def send(self, text: str) -> None:
        """Send one message. Raises `StreamBroken` when the stream is gone."""

    def abort(self) -> None:
        """Drop the stream at once (the reader then sees `StreamBroken`)."""


class FeedTransport(Protocol):
    def open(self, url: str) -> AbstractAsyncContextManager[FeedSocket]:
        """The stream at `url`, closed on leaving. Raises `StreamBroken` when it cannot
        be opened."""
        ...
