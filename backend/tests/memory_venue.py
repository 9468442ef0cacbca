"""An in-memory venue for the live engine's own tests: a `LiveFeed` speaking a small JSON
dialect, a `KlineRest` over the same candle history, and a `FeedTransport` whose sockets
are queues. All of it runs on one `SteppedClock` the test moves, so the engine (the real
one: connections, watchdog, batches, catch-ups, guard) meets drops, silences, refusals,
lost closes and bans without a socket or a real second.

The venue's truth is a function of the clock: the candle opening at `t` is `row(t)`, and
every candle that has ended by the clock is closed. A task on the clock pushes each close
and the next forming candle to the sockets subscribed to its topic, as an exchange does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson

from app.candle import Candle, CandleRow
from app.errors import StreamBroken, UnknownSymbol, UpstreamRateLimited
from app.exchanges.ports import (
    Action,
    FeedEvent,
    FeedLimits,
    FrameError,
    KlineEvent,
    KlinePage,
    PlannedReconnect,
    RequestRefused,
    SymbolInfo,
)
from app.series import Market, SeriesId, align_time
from app.tasks import spawn
from local_exchange.clock import SteppedClock

TF = 60  # the tests' series are 1m
FORMING_EVERY_S = 2.0
LISTED = ("BTC/USDT:USDT", "ETH/USDT:USDT", *(f"C{i}/USDT:USDT" for i in range(40)))

LIMITS = FeedLimits(
    topics_per_connection=200,
    topics_per_request=10,
    requests_per_s=5.0,
    connects_per_5min=300,
    max_connection_age_s=None,
    heartbeat_s=None,
    klines_per_frame=1,
)


def row(t: int) -> CandleRow:
    """The venue's candle opening at `t` (any symbol: the tests compare times and values)."""
    base = 100.0 + (t // TF) % 97
    return (t, base, base + 2.0, base - 1.0, base + 1.0, float(t // TF % 13 + 1))


def forming_candle(t: int) -> Candle:
    base = 100.0 + (t // TF) % 97
    return Candle(t, base, base + 0.5, base - 0.5, base, 0.5)


def kline_frame(topic: str, candle: Sequence[float], closed: bool) -> str:
    return orjson.dumps({"topic": topic, "k": list(candle), "closed": closed}).decode()


# -- the feed: the dialect's pure half ---------------------------------------------------


@dataclass(frozen=True)
class MemoryFeed:
    limits: FeedLimits = LIMITS
    market: Market = "futures"
    name: str = "memory-futures"
    url: str = "memory://stream"

    def topic(self, series: SeriesId) -> str:
        return f"{series.symbol}@{series.timeframe}"

    def request(self, action: Action, topics: Sequence[str], request_id: int) -> str:
        return orjson.dumps({"op": action, "args": list(topics), "id": request_id}).decode()

    def heartbeat(self) -> str | None:
        return "ping" if self.limits.heartbeat_s is not None else None

    def parse(self, raw: str | bytes) -> Sequence[FeedEvent]:
        if raw == "pong":
            return ()
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise FrameError(f"not JSON: {raw!r:.40}") from e
        if not isinstance(msg, dict):
            raise FrameError("not an object")
        if "error" in msg:
            return (RequestRefused(str(msg["error"])),)
        if msg.get("event") == "reconnect":
            return (PlannedReconnect("the venue restarts"),)
        if "ok" in msg:
            return ()
        try:
            klines = msg["k"] if isinstance(msg["k"][0], list) else [msg["k"]]
            closed = bool(msg["closed"])
            candles = [Candle(int(k[0]), *map(float, k[1:6])) for k in klines]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise FrameError(f"not a kline: {e}") from e
        return tuple(KlineEvent(msg["topic"], c, closed, None) for c in candles)


# -- the transport: sockets the venue writes into ------------------------------------------

_END = object()


class MemorySocket:
    def __init__(self, venue: MemoryVenue) -> None:
        self._venue = venue
        self._frames: asyncio.Queue[object] = asyncio.Queue()
        self.topics: set[str] = set()
        self.opened_at = venue.clock.monotonic()
        self.gone = False

    def __aiter__(self) -> MemorySocket:
        return self

    async def __anext__(self) -> str | bytes:
        item = await self._frames.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, StreamBroken):
            self.gone = True
            raise item
        assert isinstance(item, str)
        return item

    async def send(self, text: str) -> None:
        if self.gone:
            raise StreamBroken("sent on a closed stream")
        self._venue.received(self, text)

    def abort(self) -> None:
        self.break_("aborted by the client")

    # -- the venue's side --

    def push(self, frame: str) -> None:
        if not self.gone:
            self._frames.put_nowait(frame)

    def break_(self, reason: str) -> None:
        self._frames.put_nowait(StreamBroken(reason))

    def close(self) -> None:
        self._frames.put_nowait(_END)


@dataclass
class Received:
    at: float  # clock seconds (monotonic)
    socket: MemorySocket
    text: str


@dataclass
class MemoryVenue:
    """The exchange: its history (by the clock), its stream's sockets and its faults."""

    clock: SteppedClock
    feed: MemoryFeed = field(default_factory=MemoryFeed)
    sockets: list[MemorySocket] = field(default_factory=list)
    received_log: list[Received] = field(default_factory=list)
    connect_attempts: list[float] = field(default_factory=list)  # clock seconds
    refusals: int = 0  # the next connects refused
    silent: bool = False  # the stream sends nothing (its sockets stay open)
    lost: set[int] = field(default_factory=set)  # closes the stream never sends
    rest_bans: int = 0  # the next REST calls answered 429
    ban_s: float = 120.0
    rest_calls: list[tuple[float, int]] = field(default_factory=list)  # (clock, after)
    page_size: int = 100

    def __post_init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> MemoryVenue:
        self._task = spawn(self._run(), "memory venue")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def newest_closed(self) -> int:
        return align_time(int(self.clock.time()), "1m") - TF

    def history(self, first: int, last: int) -> list[CandleRow]:
        return [row(t) for t in range(first, last + 1, TF)]

    async def _run(self) -> None:
        """Each close at its candle's end, and the forming candle every `FORMING_EVERY_S`
        between (the updates that keep a stream from falling silent)."""
        while True:
            now = self.clock.time()
            boundary = align_time(int(now), "1m") + TF
            await self.clock.sleep(min(boundary - now, FORMING_EVERY_S))
            closing = self.clock.time() >= boundary
            closed = self.newest_closed()
            if self.silent:
                continue
            for socket in list(self.sockets):
                for topic in sorted(socket.topics):
                    if closing and closed not in self.lost:
                        socket.push(kline_frame(topic, row(closed), True))
                    socket.push(kline_frame(topic, forming_candle(closed + TF), False))

    def received(self, socket: MemorySocket, text: str) -> None:
        self.received_log.append(Received(self.clock.monotonic(), socket, text))
        if text == "ping":
            socket.push("pong")
            return
        msg = orjson.loads(text)
        action: Action = msg["op"]
        if action == "subscribe":
            socket.topics.update(msg["args"])
        else:
            socket.topics.difference_update(msg["args"])
        socket.push(orjson.dumps({"id": msg["id"], "ok": True}).decode())

    def requests(self) -> list[Received]:
        return [r for r in self.received_log if r.text != "ping"]

    def push_all(self, frame: str) -> None:
        for socket in self.sockets:
            socket.push(frame)

    def drop_all(self) -> None:
        for socket in self.sockets:
            socket.break_("dropped by the venue")

    # -- FeedTransport --

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[MemorySocket]:
        assert url == self.feed.url
        self.connect_attempts.append(self.clock.monotonic())
        if self.refusals:
            self.refusals -= 1
            raise StreamBroken("refused by the venue")
        socket = MemorySocket(self)
        self.sockets.append(socket)
        try:
            yield socket
        finally:
            socket.gone = True
            self.sockets.remove(socket)


class MemoryRest:
    """The venue's REST API: closed candles paged forward, its market list, its bans."""

    def __init__(self, venue: MemoryVenue) -> None:
        self._venue = venue

    def _asked(self, after: int) -> None:
        venue = self._venue
        venue.rest_calls.append((venue.clock.monotonic(), after))
        if venue.rest_bans:
            venue.rest_bans -= 1
            raise UpstreamRateLimited("429 Too Many Requests", venue.ban_s)

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        venue = self._venue
        while True:
            self._asked(after)
            last = venue.newest_closed() if until is None else min(until, venue.newest_closed())
            first = after - after % TF + TF
            page = venue.history(first, min(last, first + (venue.page_size - 1) * TF))
            if not page:
                return
            yield KlinePage(page)
            after = page[-1][0]

    async def forming(self, series: SeriesId, open_time: int) -> Candle | None:
        self._asked(open_time)
        return forming_candle(open_time)

    async def markets(self, market: Market, reload: bool = False) -> dict[str, SymbolInfo]:
        return {s: SymbolInfo(s, s.replace("/", ""), 0.1, 0.001) for s in LISTED}

    async def check_symbol(self, series: SeriesId) -> None:
        if series.symbol not in LISTED:
            raise UnknownSymbol(f"the venue does not list {series.symbol}")

    async def server_time(self, market: Market) -> float:
        return self._venue.clock.time()

    async def close(self) -> None:
        return None


# -- a recorded session, replayed -------------------------------------------------------


class ReplaySocket:
    """Plays its frames in order, then stays open and quiet until aborted."""

    def __init__(self, frames: Sequence[str | bytes], sent: list[str]) -> None:
        self._frames = list(frames)
        self._sent = sent
        self._aborted = asyncio.Event()

    def __aiter__(self) -> ReplaySocket:
        return self

    async def __anext__(self) -> str | bytes:
        if self._frames:
            await asyncio.sleep(0)  # one frame per turn, as a socket delivers them
            return self._frames.pop(0)
        await self._aborted.wait()
        raise StreamBroken("aborted by the client")

    async def send(self, text: str) -> None:
        self._sent.append(text)

    def abort(self) -> None:
        self._aborted.set()


class Replay:
    """A transport whose every stream replays one recorded session."""

    def __init__(self, frames: Sequence[str | bytes]) -> None:
        self._frames = frames
        self.sent: list[str] = []
        self.opened = 0

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[ReplaySocket]:
        self.opened += 1
        yield ReplaySocket(self._frames, self.sent)


class NoHistory:
    """A venue's REST API that lists every symbol and has no candle to give: what a replay
    stores comes from its frames alone."""

    async def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        return
        yield

    async def forming(self, series: SeriesId, open_time: int) -> Candle | None:
        return None

    async def markets(self, market: Market, reload: bool = False) -> dict[str, SymbolInfo]:
        return {}

    async def check_symbol(self, series: SeriesId) -> None:
        return None

    async def close(self) -> None:
        return None
