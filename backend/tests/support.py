"""Test helpers: a real uvicorn server over loopback, WebSocket clients, polling."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from app.api.app import create_app
from app.api.http_protocol import http_protocol
from app.cli import SHUTDOWN_GRACE_S
from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.services import Services

T = TypeVar("T")

SERIES = "binance:spot:BTC/USDT:1m"
T0 = 1_700_000_040  # a 1m-aligned epoch second


def candle(t: int, base: float = 100.0) -> dict[str, Any]:
    return {
        "candle_time": t,
        "open": base,
        "high": base + 2,
        "low": base - 1,
        "close": base + 1,
        "volume": 10.0,
    }


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    ws_url: str
    http: httpx.AsyncClient

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def ingest(self, series_id: str, c: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            "/api/market/ingest/candle_closed", json={"series_id": series_id, "candle": c}
        )

    @asynccontextmanager
    async def ws(self, **kwargs: Any) -> AsyncIterator[ClientConnection]:
        # A client that stopped reading a busy stream (websockets' queue is full) cannot
        # read the server's close frame either, and would wait out its close timeout.
        kwargs.setdefault("max_queue", None)
        async with connect(self.ws_url, **kwargs) as conn:
            yield conn


@asynccontextmanager
async def live_server(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> AsyncIterator[LiveServer]:
    # Bound first, so the server knows its own port (its downloads reach its facades).
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": sock.getsockname()[1]})
    app = create_app(settings, clock)
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on",
        http=http_protocol(settings.http.header_timeout_s),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="test-uvicorn")
    try:
        # Generous: a busy machine (a browser test beside it) can take seconds to start it.
        await poll(lambda: server.started or task.done(), "uvicorn to start", timeout=60)
        if task.done():
            task.result()
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        # Generous: a request may wait for an import or a download by design, and on a
        # busy machine that takes a while; a hang still fails, just later.
        # Idle connections are dropped well before uvicorn's keep-alive timeout (5 s): at
        # httpx's default (also 5 s) a request could go out on a connection the server was
        # closing that instant, and fail with a ReadError on a busy machine.
        limits = httpx.Limits(keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            yield LiveServer(app, base, f"ws://127.0.0.1:{port}/ws/market", http)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def poll(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str,
    timeout: float = 10.0,
    every: float = 0.005,
    why: Callable[[], str] | None = None,
) -> None:
    """Wait until `condition` holds, checking every `every` seconds; fail with `what` after
    `timeout`, and with what `why()` says of the last check."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            last = f": {why()}" if why is not None else ""
            raise AssertionError(f"timed out waiting for {what}{last}")
        await asyncio.sleep(every)


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    msg: dict[str, Any] = orjson.loads(raw)
    return msg


async def send_json(ws: ClientConnection, obj: Any) -> None:
    await ws.send(orjson.dumps(obj).decode())


async def metric_value(server: LiveServer, name: str) -> float:
    """The sum of every sample of `name` (all label sets) on the real /metrics endpoint;
    0 for a declared metric without samples yet."""
    text = (await server.http.get("/metrics")).text
    base = name.removesuffix("_total").removesuffix("_count")
    if f"# TYPE {base} " not in text and f"# TYPE {name} " not in text:
        raise AssertionError(f"metric {name} not found")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


class StalledClient:
    """A real WebSocket client (websockets' sans-I/O protocol over a raw socket) that can
    stop reading entirely, the way a frozen browser tab does."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: ClientProtocol
    ) -> None:
        self._reader, self._writer, self._protocol = reader, writer, protocol
        self._pending: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str) -> StalledClient:
        uri = parse_uri(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (uri.host, uri.port))
        # A small stream limit: the client buffers little before its transport pauses.
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        protocol = ClientProtocol(uri, max_size=None)
        protocol.send_request(protocol.connect())
        client = cls(reader, writer, protocol)
        await client._flush()
        while protocol.handshake_exc is None and protocol.state is not State.OPEN:
            protocol.receive_data(await reader.read(4096))
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        return client

    async def _flush(self) -> None:
        self._writer.write(b"".join(self._protocol.data_to_send()))
        await self._writer.drain()

    async def send_json(self, obj: Any) -> None:
        self._protocol.send_text(orjson.dumps(obj))
        await self._flush()

    async def recv_json(self, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self._protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    self._pending.append(orjson.loads(event.data))
            if self._pending:
                return self._pending.pop(0)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message")
            data = await asyncio.wait_for(self._reader.read(65536), remaining)
            if not data:
                raise ConnectionError("closed")
            self._protocol.receive_data(data)

    async def read_until_closed(self, timeout: float = 20.0) -> tuple[int | None, str]:
        """Read (and discard) everything until the connection ends: the close frame's
        code and reason, or (None, "") when it ended without one."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self._protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                    close = Close.parse(event.data)
                    return close.code, close.reason
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server did not close the connection")
            data = await asyncio.wait_for(self._reader.read(65536), remaining)
            if not data:
                return None, ""
            self._protocol.receive_data(data)

    async def close(self) -> None:
        self._writer.close()


def free_port() -> int:
    """A loopback port nothing listens on now (for a server process a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
