"""The fake exchange's WebSocket face: Binance market streams for one market type.

Raw streams at `/ws/<stream>`, combined at `/stream?streams=a/b` (any path prefix, so
`/market/stream` works like Binance's futures endpoint), live `SUBSCRIBE`, `UNSUBSCRIBE`
and `LIST_SUBSCRIPTIONS`, kline payloads exactly as Binance sends them, server pings, the
1024-streams and incoming-message-rate limits, the connection-age cut, and fault controls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from app.fake_binance.exchange import FakeExchange, MarketKind
from app.fake_binance.market import INTERVAL_SECONDS, Kline, align

log = logging.getLogger(__name__)

MAX_STREAMS = 1024


@dataclass(frozen=True, slots=True)
class WsLimits:
    tick_s: float = 0.25  # Binance futures sends kline updates every 250 ms
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 60.0
    max_connection_s: float = 24 * 3600.0
    max_incoming_per_s: int = 5


@dataclass(eq=False)
class _Client:
    conn: ServerConnection
    combined: bool
    streams: set[str] = field(default_factory=set)
    incoming: deque[float] = field(default_factory=deque)


@dataclass
class _StreamState:
    symbol: str
    interval: str
    open_time: int  # the forming candle's open
    forming_grid: int = -1
    forming: Kline | None = None


def _kline_payload(
    symbol: str, interval: str, k: Kline, closed: bool, event_ms: int
) -> dict[str, Any]:
    first_trade = k.open_time_ms // 1000
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": k.open_time_ms,
            "T": k.close_time_ms,
            "s": symbol,
            "i": interval,
            "f": first_trade,
            "L": first_trade + k.trades - 1,
            "o": k.open,
            "c": k.close,
            "h": k.high,
            "l": k.low,
            "v": k.volume,
            "n": k.trades,
            "x": closed,
            "q": k.quote_volume,
            "V": k.taker_base,
            "Q": k.taker_quote,
            "B": "0",
        },
    }


class WsMarketServer:
    def __init__(
        self, exchange: FakeExchange, market: MarketKind, limits: WsLimits | None = None
    ) -> None:
        self.exchange = exchange
        self.market = market
        self.limits = limits or WsLimits()
        self._server: Server | None = None
        self._clients: set[_Client] = set()
        self._streams: dict[str, _StreamState] = {}
        self._ticker: asyncio.Task[None] | None = None
        # Faults.
        self._stalled_until = 0.0
        self._refuse_until = 0.0
        self._omit_closes = 0
        self._close_delay_s = 0.0
        self._garbage = 0
        self.connections_accepted = 0
        self.connections_refused = 0

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
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"fake-{self.market}-ticker")

    async def stop(self) -> None:
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
        self._stalled_until = time.monotonic() + seconds

    def refuse(self, seconds: float) -> None:
        """Reject new connections (HTTP 503) for `seconds`."""
        self._refuse_until = time.monotonic() + seconds

    def omit_closes(self, count: int) -> None:
        """Never send the next `count` closed klines (x=true), as Binance sometimes does."""
        self._omit_closes = count

    def delay_closes(self, seconds: float) -> None:
        """Send closed klines `seconds` late, after the next candle's updates."""
        self._close_delay_s = seconds

    def send_garbage(self, count: int) -> None:
        """Send `count` malformed frames to every connection on the next ticks."""
        self._garbage = count

    async def server_shutdown(self, grace_s: float = 0.2) -> None:
        """Announce a shutdown as Binance does, then disconnect everyone."""
        event = orjson.dumps(
            {"event": {"e": "serverShutdown", "E": self.exchange.clock.now_ms()}}
        ).decode()
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                await client.conn.send(event)
        await asyncio.sleep(grace_s)
        for client in list(self._clients):
            await client.conn.close(1001, "server shutdown")

    # -- connections ------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if time.monotonic() < self._refuse_until:
            self.connections_refused += 1
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "refusing connections\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        url = urlsplit(conn.request.path if conn.request else "/")
        streams: list[str] = []
        if url.path.endswith("/stream"):
            combined = True
            for value in parse_qs(url.query).get("streams", []):
                streams += [s for s in value.split("/") if s]
        elif "/ws" in url.path:
            combined = False
            rest = url.path.split("/ws", 1)[1].strip("/")
            streams = [s for s in rest.split("/") if s]
        else:
            await conn.close(1008, "unknown path")
            return
        if len(streams) > MAX_STREAMS:
            await conn.close(1008, f"more than {MAX_STREAMS} streams")
            return
        client = _Client(conn, combined)
        self._subscribe(client, streams)
        self._clients.add(client)
        self.connections_accepted += 1
        cut = asyncio.get_running_loop().call_later(
            self.limits.max_connection_s,
            lambda: asyncio.ensure_future(conn.close(1000, "24 hour cut")),
        )
        try:
            async for message in conn:
                if not self._within_rate(client):
                    await conn.close(1008, "too many incoming messages")
                    return
                reply = self._command(client, message)
                if reply is not None:
                    await conn.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass
        finally:
            cut.cancel()
            self._clients.discard(client)
            self._forget_unused_streams()

    def _within_rate(self, client: _Client) -> bool:
        now = time.monotonic()
        client.incoming.append(now)
        while client.incoming and client.incoming[0] < now - 1.0:
            client.incoming.popleft()
        return len(client.incoming) <= self.limits.max_incoming_per_s

    def _command(self, client: _Client, message: str | bytes) -> dict[str, Any] | None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            return {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}
        if not isinstance(request, dict):
            return {"error": {"code": 2, "msg": "Invalid request"}, "id": None}
        method, params, rid = request.get("method"), request.get("params"), request.get("id")
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(client.streams), "id": rid}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": rid}
        if not all(isinstance(p, str) for p in params):
            return {"error": {"code": 1, "msg": "Invalid value type: expected Array of String"},
                    "id": rid}  # fmt: skip
        if method == "SUBSCRIBE":
            if len(client.streams | set(params)) > MAX_STREAMS:
                return {"error": {"code": 2, "msg": f"Max {MAX_STREAMS} streams"}, "id": rid}
            self._subscribe(client, params)
        else:
            client.streams.difference_update(params)
            self._forget_unused_streams()
        return {"result": None, "id": rid}

    def _subscribe(self, client: _Client, streams: Iterable[str]) -> None:
        now = int(self.exchange.clock.now())
        for stream in streams:
            client.streams.add(stream)
            symbol, _, kind = stream.partition("@")
            if stream in self._streams or not kind.startswith("kline_"):
                continue
            interval = kind.removeprefix("kline_")
            model = self.exchange.models[self.market].get(symbol.upper())
            if model is None or interval not in INTERVAL_SECONDS:
                continue  # like Binance: accepted, and silent
            self._streams[stream] = _StreamState(model.symbol, interval, align(now, interval))

    def _forget_unused_streams(self) -> None:
        used = set().union(*(c.streams for c in self._clients)) if self._clients else set()
        for stream in [s for s in self._streams if s not in used]:
            del self._streams[stream]

    # -- the market's heartbeat -------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.limits.tick_s)
            try:
                await self._tick()
            except Exception:
                log.exception("fake %s ticker failed", self.market)

    async def _tick(self) -> None:
        if time.monotonic() < self._stalled_until or not self._clients:
            return
        now = self.exchange.clock.now()
        event_ms = int(now * 1000)
        frames: dict[str, list[dict[str, Any]]] = {}
        delayed: list[tuple[str, dict[str, Any]]] = []
        for stream, state in self._streams.items():
            payloads = []
            current = align(int(now), state.interval)
            size = INTERVAL_SECONDS[state.interval]
            model = self.exchange.models[self.market][state.symbol]
            while state.open_time < current:
                closed = model.kline(state.interval, state.open_time)
                payload = _kline_payload(state.symbol, state.interval, closed, True, event_ms)
                if self._omit_closes > 0:
                    self._omit_closes -= 1
                elif self._close_delay_s > 0:
                    delayed.append((stream, payload))
                else:
                    payloads.append(payload)
                state.open_time += size
                state.forming, state.forming_grid = None, -1
            grid = int(now) // max(10, size // 60)
            if state.forming is None or grid != state.forming_grid:
                state.forming = model.kline(state.interval, state.open_time, until=int(now))
                state.forming_grid = grid
            payloads.append(
                _kline_payload(state.symbol, state.interval, state.forming, False, event_ms)
            )
            frames[stream] = payloads
        garbage = self._garbage
        self._garbage = 0
        clock = self.exchange.clock
        for client in list(self._clients):
            out = []
            for _ in range(garbage):
                out += ["{not json", '{"stream": "x@kline_1m", "data": {"e": "kline"}}', "[]"]
            with contextlib.suppress(ConnectionClosed):
                for text in out:
                    await client.conn.send(text)
                for stream in client.streams:
                    for payload in frames.get(stream, ()):
                        # Each event is stamped as it leaves, as Binance stamps its events.
                        payload["E"] = clock.now_ms()
                        msg = {"stream": stream, "data": payload} if client.combined else payload
                        await client.conn.send(orjson.dumps(msg).decode())
        if delayed:
            asyncio.get_running_loop().call_later(
                self._close_delay_s, lambda: asyncio.ensure_future(self._send_late(delayed))
            )

    async def _send_late(self, delayed: list[tuple[str, dict[str, Any]]]) -> None:
        for client in list(self._clients):
            for stream, payload in delayed:
                if stream in client.streams:
                    msg = {"stream": stream, "data": payload} if client.combined else payload
                    with contextlib.suppress(ConnectionClosed):
                        await client.conn.send(orjson.dumps(msg).decode())
