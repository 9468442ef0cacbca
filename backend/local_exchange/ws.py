"""The fake exchange's WebSocket face: one market's kline streams, in a venue's dialect.

The server holds connections, streams and the market's heartbeat, and the fault controls
(drop, stall, refuse, missing or late closes, garbage, shutdown); the dialect
(`binance_ws.py`, `bybit_ws.py`) says what a path, a request and a kline frame look like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from app.tasks import spawn
from local_exchange.exchange import FakeExchange, MarketKind
from local_exchange.market import INTERVAL_SECONDS, DerivedKind, Kline, SymbolModel, align

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WsLimits:
    tick_s: float = 0.25  # Binance futures sends kline updates every 250 ms
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 60.0
    max_connection_s: float = 24 * 3600.0
    max_incoming_per_s: int = 5
    # Close a client that has sent nothing for this long (Bybit wants the client's ping).
    client_idle_s: float | None = None


@dataclass(eq=False)
class _Client:
    conn: ServerConnection
    combined: bool
    last_message: float  # on the exchange's clock
    streams: set[str] = field(default_factory=set)
    incoming: deque[float] = field(default_factory=deque)


@dataclass
class _StreamState:
    symbol: str
    interval: str
    open_time: int  # the forming candle's open
    kind: DerivedKind | None = None  # the derived prices the topic carries (None: traded)
    forming_grid: int = -1
    forming: Kline | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """What a client's message asks for: a reply, topics to add, topics to drop."""

    # A JSON object, a text frame (OKX's `pong`), or several (OKX acknowledges each arg).
    reply: dict[str, Any] | str | list[dict[str, Any]] | None = None
    subscribe: Sequence[str] = ()
    unsubscribe: Sequence[str] = ()


class WsDialect(Protocol):
    max_topics: int

    def open(self, path: str) -> tuple[bool, list[str]] | None:
        """(combined framing, topics named in the path) for a path it serves, else None."""

    def command(self, topics: set[str], message: str | bytes) -> Command: ...

    def kline_topic(self, topic: str) -> tuple[str, str] | None:
        """(exchange symbol, interval) of a kline topic, else None."""

    def kline_kind(self, topic: str) -> DerivedKind | None:
        """The derived prices (a contract's mark, its index) a kline topic carries; None
        for the traded candles."""

    def kline_frame(
        self, topic: str, symbol: str, interval: str, k: Kline, closed: bool, now_ms: int,
        combined: bool,
    ) -> str: ...  # fmt: skip

    def shutdown_frame(self, now_ms: int) -> str | None:
        """The venue's announcement before it closes connections, if it makes one."""

    def garbage(self) -> list[str]:
        """Frames the venue would never send."""


class WsMarketServer:
    def __init__(
        self,
        exchange: FakeExchange,
        market: MarketKind,
        dialect: WsDialect,
        limits: WsLimits | None = None,
    ) -> None:
        self.exchange = exchange
        self.market = market
        self.dialect = dialect
        self.limits = limits or WsLimits()
        self._server: Server | None = None
        self._clients: set[_Client] = set()
        self._streams: dict[str, _StreamState] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._late: set[asyncio.Future[None]] = set()
        # Faults.
        self._stalled_until = 0.0
        self._refuse_until = 0.0
        self._omit_closes = 0
        self._close_delay_s = 0.0
        self._garbage = 0
        self.connections_accepted = 0
        self.connections_refused = 0
        self.messages_received = 0

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            ping_interval=self.limits.ping_interval_s,
            ping_timeout=self.limits.ping_timeout_s,
            max_size=2**20,
        )
        self._ticker = spawn(self._tick_loop(), f"fake-{self.market}-ticker")

    async def stop(self) -> None:
        for late in list(self._late):
            late.cancel()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- faults (call on the server's loop) -------------------------------------------

    def drop_all(self) -> int:
        """Cut every connection abruptly, as a network failure does."""
        count = len(self._clients)
        for client in list(self._clients):
            transport = client.conn.transport
            if transport is not None:
                transport.abort()
        return count

    def stall(self, seconds: float) -> None:
        """Send no frames for `seconds` while keeping connections open."""
        self._stalled_until = self.exchange.clock.elapsed() + seconds

    def _stalled(self) -> bool:
        return self.exchange.clock.elapsed() < self._stalled_until

    def refuse(self, seconds: float) -> None:
        """Reject new connections (HTTP 503) for `seconds`."""
        self._refuse_until = self.exchange.clock.elapsed() + seconds

    def omit_closes(self, count: int) -> None:
        """Never send the next `count` closed klines (Binance's `x`, Bybit's `confirm`), as
        the venues sometimes do."""
        self._omit_closes = count

    def delay_closes(self, seconds: float) -> None:
        """Send closed klines `seconds` late, after the next candle's updates."""
        self._close_delay_s = seconds

    def send_garbage(self, count: int) -> None:
        """Send `count` malformed frames to every connection on the next ticks."""
        self._garbage = count

    async def inject(self, frames: Sequence[str]) -> int:
        """Send `frames` verbatim to every connection, as if the venue had sent them: how a
        test plays an exchange that says what it should not. Returns the frames sent."""
        sent = 0
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                for text in frames:
                    await client.conn.send(text)
                    sent += 1
        return sent

    def kline_frame(self, topic: str, kline: Kline, closed: bool) -> str:
        """The frame the venue sends for `kline` on `topic`, whatever its values."""
        found = self.dialect.kline_topic(topic)
        if found is None:
            raise ValueError(f"{topic!r} is not a kline topic")
        symbol, interval = found
        return self.dialect.kline_frame(
            topic, symbol.upper(), interval, kline, closed, self.exchange.clock.now_ms(), True
        )

    async def server_shutdown(self, grace_s: float = 0.2) -> None:
        """Announce a shutdown as the venue does (if it does), then disconnect everyone."""
        event = self.dialect.shutdown_frame(self.exchange.clock.now_ms())
        if event is not None:
            for client in list(self._clients):
                with contextlib.suppress(ConnectionClosed):
                    await client.conn.send(event)
            await asyncio.sleep(grace_s)  # real: the announcement's way out, not market time
        for client in list(self._clients):
            await client.conn.close(1001, "server shutdown")

    # -- connections ------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.exchange.clock.elapsed() < self._refuse_until:
            self.connections_refused += 1
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "refusing connections\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        opened = self.dialect.open(conn.request.path if conn.request else "/")
        if opened is None:
            await conn.close(1008, "unknown path")
            return
        combined, streams = opened
        if len(streams) > self.dialect.max_topics:
            await conn.close(1008, f"more than {self.dialect.max_topics} streams")
            return
        client = _Client(conn, combined, last_message=self.exchange.clock.elapsed())
        self._subscribe(client, streams)
        self._clients.add(client)
        self.connections_accepted += 1
        cut = spawn(self._cut_at_age(conn), f"fake-{self.market}-age-cut")
        idle = None
        if self.limits.client_idle_s is not None:
            idle_cut = self._cut_when_idle(client, self.limits.client_idle_s)
            idle = spawn(idle_cut, f"fake-{self.market}-idle-cut")
        try:
            async for message in conn:
                client.last_message = self.exchange.clock.elapsed()
                self.messages_received += 1
                if not self._within_rate(client):
                    await conn.close(1008, "too many incoming messages")
                    return
                command = self.dialect.command(client.streams, message)
                if command.subscribe:
                    self._subscribe(client, command.subscribe)
                if command.unsubscribe:
                    client.streams.difference_update(command.unsubscribe)
                    self._forget_unused_streams()
                if command.reply is not None and not self._stalled():
                    for frame in _frames(command.reply):
                        await conn.send(frame)
        except ConnectionClosed:
            pass
        finally:
            cut.cancel()
            if idle is not None:
                idle.cancel()
            self._clients.discard(client)
            self._forget_unused_streams()

    async def _cut_at_age(self, conn: ServerConnection) -> None:
        await self.exchange.clock.wait(self.limits.max_connection_s)
        await conn.close(1000, "24 hour cut")

    async def _cut_when_idle(self, client: _Client, idle_s: float) -> None:
        while True:
            await self.exchange.clock.wait(idle_s / 4)
            if self.exchange.clock.elapsed() - client.last_message > idle_s:
                await client.conn.close(1000, "no heartbeat from the client")
                return

    def _within_rate(self, client: _Client) -> bool:
        # Per second of the exchange's own clock, the time the server's pacing and
        # heartbeats run on too (a stepped clock in tests: real seconds would count a
        # burst of the server's 20 s heartbeats, stepped through at once, as abuse).
        now = self.exchange.clock.elapsed()
        client.incoming.append(now)
        while client.incoming and client.incoming[0] < now - 1.0:
            client.incoming.popleft()
        return len(client.incoming) <= self.limits.max_incoming_per_s

    def _subscribe(self, client: _Client, streams: Iterable[str]) -> None:
        now = int(self.exchange.clock.now())
        for stream in streams:
            client.streams.add(stream)
            kline = self.dialect.kline_topic(stream)
            if stream in self._streams or kline is None:
                continue
            symbol, interval = kline
            model = self.exchange.models[self.market].get(symbol.upper())
            if model is None or interval not in INTERVAL_SECONDS:
                continue  # like the venues: accepted, and silent
            self._streams[stream] = _StreamState(
                model.symbol, interval, align(now, interval), self.dialect.kline_kind(stream)
            )

    def _forget_unused_streams(self) -> None:
        used = set().union(*(c.streams for c in self._clients)) if self._clients else set()
        for stream in [s for s in self._streams if s not in used]:
            del self._streams[stream]

    # -- the market's heartbeat -------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await self.exchange.clock.wait(self.limits.tick_s)
            try:
                await self._tick()
            except Exception:
                log.exception("fake %s ticker failed", self.market)

    async def _tick(self) -> None:
        if self._stalled() or not self._clients:
            return
        now = self.exchange.clock.now()
        frames: dict[str, list[tuple[Kline, bool]]] = {}
        delayed: list[tuple[str, Kline]] = []
        for stream, state in self._streams.items():
            klines = []
            current = align(int(now), state.interval)
            size = INTERVAL_SECONDS[state.interval]
            model = self.exchange.models[self.market][state.symbol]
            while state.open_time < current:
                final = _priced(model, state, model.kline(state.interval, state.open_time))
                if self._omit_closes > 0:
                    self._omit_closes -= 1
                elif self._close_delay_s > 0:
                    delayed.append((stream, final))
                else:
                    klines.append((final, True))
                state.open_time += size
                state.forming, state.forming_grid = None, -1
            grid = int(now) // max(10, size // 60)
            if state.forming is None or grid != state.forming_grid:
                forming = model.kline(state.interval, state.open_time, until=int(now))
                state.forming = _priced(model, state, forming)
                state.forming_grid = grid
            klines.append((state.forming, False))
            frames[stream] = klines
        garbage = self._garbage
        self._garbage = 0
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                for _ in range(garbage):
                    for text in self.dialect.garbage():
                        await client.conn.send(text)
                # A copy: a subscribe handled while this awaits a send changes the set.
                for stream in list(client.streams):
                    for k, closed in frames.get(stream, ()):
                        await client.conn.send(self._frame(client, stream, k, closed))
        if delayed:
            late = spawn(self._send_late(delayed, self._close_delay_s), f"fake-{self.market}-late")
            self._late.add(late)
            late.add_done_callback(self._late.discard)

    def _frame(self, client: _Client, stream: str, k: Kline, closed: bool) -> str:
        # From the topic, not the stream's state: the stream may be forgotten while a tick
        # awaits its sends. Each event is stamped as it leaves, as the venues stamp theirs.
        topic = self.dialect.kline_topic(stream)
        assert topic is not None  # only kline topics have frames
        symbol, interval = topic
        return self.dialect.kline_frame(
            stream, symbol.upper(), interval, k, closed, self.exchange.clock.now_ms(),
            client.combined,
        )  # fmt: skip

    async def _send_late(self, delayed: list[tuple[str, Kline]], delay_s: float) -> None:
        await self.exchange.clock.wait(delay_s)
        for client in list(self._clients):
            for stream, k in delayed:
                if stream in client.streams:
                    with contextlib.suppress(ConnectionClosed):
                        await client.conn.send(self._frame(client, stream, k, True))


def _priced(model: SymbolModel, state: _StreamState, kline: Kline) -> Kline:
    """`kline` as the stream's kind prices it."""
    return kline if state.kind is None else model.derived(state.kind, kline)


def _frames(reply: dict[str, Any] | str | list[dict[str, Any]]) -> list[str]:
    if isinstance(reply, str):
        return [reply]
    return [orjson.dumps(r).decode() for r in (reply if isinstance(reply, list) else [reply])]
