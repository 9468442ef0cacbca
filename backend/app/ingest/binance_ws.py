"""BinanceWsIngestor: live klines of one market type over Binance's combined streams.

One WebSocket connection carries up to 1,024 series (more connections beyond that);
series are added and removed with SUBSCRIBE / UNSUBSCRIBE. Closed klines are buffered and
committed in batches (then broadcast by the hub); forming klines are only broadcast.
Whatever happens to the connection, the store ends up with every closed candle: after
each (re)connect, and whenever a series' stream skips a close, the missing candles are
fetched over REST from the store's head up to the exchange's present.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from app.candle import Candle
from app.errors import ExchangeError
from app.exchanges.binance.parser import FrameError, KlineUpdate, Reply, ServerShutdown, parse_frame
from app.exchanges.ports import KlineRest
from app.ingest.metrics import IngestMetrics
from app.ingest.port import BatchCommit, CandleSink
from app.series import Market, SeriesId, align_time, timeframe_seconds
from app.store import CandleStore
from app.tasks import log_crash

log = logging.getLogger(__name__)

ConnectionState = Literal["connecting", "open", "backoff", "stopped"]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    batch_max: int = 500
    flush_s: float = 0.25
    stale_s: float = 30.0  # no frame for this long: the connection is dead
    max_connection_age_s: float = 23.5 * 3600  # reconnect before Binance's 24-hour cut
    close_grace_s: float = 3.0  # wait this long for a late close before asking REST
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    healthy_s: float = 30.0  # a connection this old resets the backoff
    streams_per_connection: int = 1024
    subscribe_chunk: int = 200
    requests_per_s: float = 4.0  # Binance allows 5 (spot) or 10 (futures) a second
    connects_per_5min: int = 250  # Binance allows 300 connection attempts per 5 minutes
    backfill_max_candles: int = 1000  # how far back to fetch for a series with no history


@dataclass(eq=False)
class LiveSeries:
    series: SeriesId
    stream: str
    tf: int
    connection: _Connection | None = None
    head_time: int | None = None
    # Every closed candle up to this one is stored or buffered: the newest close alone
    # cannot say so, since it may have arrived with an older one lost before it.
    complete_through: int | None = None
    # Closes received past a hole, for moving `complete_through` once the hole is filled.
    closes_ahead: set[int] = field(default_factory=set)
    newest_seen: int | None = None  # open time of the newest kline on the stream
    catching_up: asyncio.Task[None] | None = None
    recheck: bool = False  # a hole was seen while a catch-up ran (it may predate it)
    last_batch: dict[str, Any] | None = None
    last_error: str | None = None

    def complete(self, through: int) -> None:
        """Everything up to `through` is stored or buffered."""
        if self.complete_through is None or through > self.complete_through:
            self.complete_through = through
        if self.closes_ahead:  # empty for every close of a healthy stream
            while self.complete_through + self.tf in self.closes_ahead:
                self.complete_through += self.tf
            self.closes_ahead = {t for t in self.closes_ahead if t > self.complete_through}

    def closed_seen(self, t: int) -> None:
        if self.complete_through is None or t == self.complete_through + self.tf:
            self.complete(t)
        elif t > self.complete_through:
            self.closes_ahead.add(t)

    def has_hole(self) -> bool:
        """A candle before the newest on the stream is neither stored nor buffered."""
        if self.newest_seen is None:
            return False
        if self.complete_through is None:
            return True
        return self.newest_seen - self.tf > self.complete_through or bool(self.closes_ahead)


class _AttemptLimiter:
    """At most `limit` connection attempts in any 5 minutes (Binance's own rule)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._attempts: deque[float] = deque()

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            while self._attempts and self._attempts[0] < now - 300:
                self._attempts.popleft()
            if len(self._attempts) < self._limit:
                self._attempts.append(now)
                return
            await asyncio.sleep(self._attempts[0] + 300 - now)


class _Connection:
    def __init__(self, ingestor: BinanceWsIngestor, number: int) -> None:
        self.ingestor = ingestor
        self.name = f"binance-{ingestor.market}-ws-{number}"
        self.streams: set[str] = set()
        self.state: ConnectionState = "connecting"
        self.ws: ClientConnection | None = None
        self.connected_at: float | None = None
        self.reconnects = 0
        self.frames = 0
        self.last_error: str | None = None
        self._request_id = 0
        self._last_request = 0.0
        self._send_lock = asyncio.Lock()
        self.task = asyncio.create_task(self._run(), name=self.name)
        self.task.add_done_callback(log_crash)

    async def add(self, stream: str) -> None:
        self.streams.add(stream)
        await self._request("SUBSCRIBE", [stream])

    async def remove(self, stream: str) -> None:
        self.streams.discard(stream)
        await self._request("UNSUBSCRIBE", [stream])

    async def _request(self, method: str, params: list[str]) -> None:
        """Send a request if connected (else the next connect subscribes everything),
        never faster than the exchange's incoming-message limit."""
        ws = self.ws
        if ws is None:
            return
        async with self._send_lock:
            gap = 1.0 / self.ingestor.options.requests_per_s
            wait = self._last_request + gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._request_id += 1
            self._last_request = time.monotonic()
            with contextlib.suppress(WebSocketException):
                await ws.send(
                    orjson.dumps(
                        {"method": method, "params": params, "id": self._request_id}
                    ).decode()
                )

    async def _run(self) -> None:
        options = self.ingestor.options
        attempt = 0
        while True:
            await self.ingestor.attempts.wait()
            self.state = "connecting"
            planned = False
            opened: float | None = None
            try:
                async with connect(
                    self.ingestor.stream_url,
                    open_timeout=10,
                    ping_interval=None,  # the server pings; staleness is watched per frame
                    close_timeout=2,
                    max_size=2**22,
                ) as ws:
                    opened = time.monotonic()
                    self.ws, self.state, self.connected_at = ws, "open", time.time()
                    self.last_error = None
                    for i in range(0, len(self.streams), options.subscribe_chunk):
                        chunk = sorted(self.streams)[i : i + options.subscribe_chunk]
                        await self._request("SUBSCRIBE", chunk)
                    self.ingestor.connected(self)
                    planned = await self._read(ws, opened)
            except asyncio.CancelledError:
                self.state = "stopped"
                raise
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, WebSocketException) as e:
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("%s: %s", self.name, self.last_error)
            finally:
                self.ws = None
            self.reconnects += 1
            self.ingestor.metrics.reconnects.labels(self.ingestor.market).inc()
            if opened is not None and time.monotonic() - opened >= options.healthy_s:
                attempt = 0
            if planned:
                delay = 0.0
            else:
                delay = min(options.backoff_max_s, options.backoff_initial_s * 2**attempt)
                delay *= random.uniform(0.5, 1.5)
                attempt += 1
            self.state = "backoff"
            await asyncio.sleep(delay)

    async def _read(self, ws: ClientConnection, opened: float) -> bool:
        """Read frames until the connection ends. True for a planned reconnect (server
        shutdown, connection age), False when it broke."""
        options = self.ingestor.options
        while True:
            if time.monotonic() - opened > options.max_connection_age_s:
                log.info("%s: reconnecting ahead of the 24-hour cut", self.name)
                return True
            try:
                async with asyncio.timeout(options.stale_s):
                    raw = await ws.recv()
            except TimeoutError:
                self.last_error = f"no frame for {options.stale_s:g}s"
                log.warning("%s: stale, reconnecting", self.name)
                return False
            self.frames += 1
            try:
                frame = parse_frame(raw)
            except FrameError as e:
                self.ingestor.metrics.bad_frames.labels(self.ingestor.market).inc()
                log.debug("%s: ignoring a bad frame: %s", self.name, e)
                continue
            if isinstance(frame, KlineUpdate):
                self.ingestor.on_kline(frame)
            elif isinstance(frame, ServerShutdown):
                log.info("%s: server shutdown announced, reconnecting", self.name)
                return True
            elif isinstance(frame, Reply) and frame.error is not None:
                log.warning("%s: request %s refused: %s", self.name, frame.id, frame.error)


class BinanceWsIngestor:
    def __init__(
        self,
        market: Market,
        ws_url: str,
        rest: KlineRest,
        store: CandleStore,
        sink: CandleSink,
        metrics: IngestMetrics,
        options: IngestOptions | None = None,
    ) -> None:
        self.market = market
        self.stream_url = ws_url.rstrip("/") + "/stream"
        self.rest = rest
        self.store = store
        self.sink = sink
        self.metrics = metrics
        self.options = options or IngestOptions()
        self.attempts = _AttemptLimiter(self.options.connects_per_5min)
        self._series: dict[str, LiveSeries] = {}
        self._by_stream: dict[str, LiveSeries] = {}
        self._connections: list[_Connection] = []
        self._buffer: list[tuple[LiveSeries, Candle]] = []
        self._buffered = asyncio.Event()
        self._full = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_loop(), name=f"binance-{market}-flush")
        self._flusher.add_done_callback(log_crash)
        self._catchup_slots = asyncio.Semaphore(4)  # REST weight is limited too

    # -- series -----------------------------------------------------------------------

    def series_state(self, series_id: str) -> LiveSeries | None:
        return self._series.get(series_id)

    async def add(self, series: SeriesId) -> None:
        """Start streaming `series`. Raises `UnknownSymbol` for a symbol the exchange
        does not list (checked against exchangeInfo, not retried)."""
        key = str(series)
        if key in self._series:
            return
        await self.rest.check_symbol(series)
        stream = f"{series.exchange_symbol.lower()}@kline_{series.timeframe}"
        live = LiveSeries(series, stream, timeframe_seconds(series.timeframe))
        live.head_time = await self.store.head_time(key)
        if live.head_time is not None:
            live.complete(live.head_time)
        connection = next(
            (c for c in self._connections
             if len(c.streams) < self.options.streams_per_connection),
            None,
        )  # fmt: skip
        if connection is None:
            connection = _Connection(self, len(self._connections) + 1)
            self._connections.append(connection)
        live.connection = connection
        self._series[key] = live
        self._by_stream[stream] = live
        await connection.add(stream)
        self.catch_up(live)

    async def remove(self, series: SeriesId) -> None:
        live = self._series.pop(str(series), None)
        if live is None:
            return
        self._by_stream.pop(live.stream, None)
        if live.catching_up is not None:
            live.catching_up.cancel()
        connection = live.connection
        if connection is not None:
            await connection.remove(live.stream)
            if not connection.streams:
                connection.task.cancel()
                self._connections.remove(connection)

    async def stop(self) -> None:
        """Stop every connection, then commit what is buffered (a clean shutdown loses
        no closed candle)."""
        tasks = [c.task for c in self._connections]
        tasks += [s.catching_up for s in self._series.values() if s.catching_up is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        await self._flush()

    # -- frames -----------------------------------------------------------------------

    def connected(self, connection: _Connection) -> None:
        """A (re)connect: every series on it may have missed candles meanwhile."""
        for live in list(self._series.values()):
            if live.connection is connection:
                self.catch_up(live)

    def on_kline(self, update: KlineUpdate) -> None:
        live = self._by_stream.get(update.stream)
        if live is None:
            return  # unsubscribed meanwhile
        key = str(live.series)
        t = update.candle.candle_time
        if live.newest_seen is None or t > live.newest_seen:
            live.newest_seen = t
        if update.closed:
            self.metrics.closed_received.labels(key).inc()
            live.closed_seen(t)
            self._buffer.append((live, update.candle))
            self._buffered.set()
            if len(self._buffer) >= self.options.batch_max:
                self._full.set()
        else:
            self.metrics.forming_received.labels(key).inc()
            self.sink.publish_forming(key, update.candle, update.event_time_ms)
        if live.has_hole():
            # The close of an earlier candle never came (or came while disconnected).
            self.catch_up(live, grace=True)

    # -- closed candles ---------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._buffered.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.flush_s):
                    await self._full.wait()
            await self._flush()

    async def _flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        self._buffered.clear()
        self._full.clear()
        if not buffer:
            return
        batches: dict[str, dict[int, Candle]] = {}
        lives: dict[str, LiveSeries] = {}
        for live, candle in buffer:
            key = str(live.series)
            batches.setdefault(key, {})[candle.candle_time] = candle
            lives[key] = live
        try:
            commit = await self.sink.commit_closed_many(
                {k: sorted(v.values()) for k, v in batches.items()}
            )
        except Exception:
            log.exception("committing %d closed candles failed; they will be backfilled",
                          len(buffer))  # fmt: skip
            for live in lives.values():
                # Only what is stored is complete now; the next frame finds the hole.
                live.complete_through = live.head_time
                live.closes_ahead.clear()
            return
        self.metrics.batch_db_seconds.observe(commit.db_s)
        for key, result in commit.results.items():
            live = lives[key]
            live.head_time = result.head_time
            rows = len(batches[key])
            self.metrics.rows_written.labels(key).inc(rows)
            live.last_batch = {
                "rows": rows,
                "db_ms": round(commit.db_s * 1000, 2),
                "publish_ms": round(commit.publish_s * 1000, 2),
                "head_time": result.head_time,
                "at": time.time(),
            }
        _log_batch(commit, {k: len(v) for k, v in batches.items()})

    # -- catching up over REST --------------------------------------------------------

    def catch_up(self, live: LiveSeries, *, grace: bool = False) -> None:
        """Fetch the closed candles the store lacks up to the present (one at a time per
        series). With `grace`, first give a late WebSocket close the chance to arrive."""
        if live.catching_up is not None:
            # The running catch-up may have read the exchange's present before this hole.
            live.recheck = True
            return
        # From where the series is complete as of now: a live close committed before the
        # task runs would otherwise move the head past the very gap being filled.
        task = asyncio.create_task(
            self._catch_up(live, grace, live.complete_through), name=f"backfill {live.series}"
        )
        live.catching_up = task
        live.recheck = False

        def done(t: asyncio.Task[None]) -> None:
            live.catching_up = None
            log_crash(t)
            if t.cancelled() or self._series.get(str(live.series)) is not live:
                return
            if live.recheck and live.has_hole():
                self.catch_up(live, grace=True)

        task.add_done_callback(done)

    async def _catch_up(self, live: LiveSeries, grace: bool, after: int | None) -> None:
        key = str(live.series)
        if grace:
            await asyncio.sleep(self.options.close_grace_s)
            if not live.has_hole():
                return  # the closes arrived late after all
        async with self._catchup_slots:
            head = after
            if head is None:
                # Nothing was stored when this was asked for: the history a live series
                # starts with (not the store's head now, which a live close may have set).
                span = self.options.backfill_max_candles * live.tf
                head = align_time(int(time.time()) - span, live.series.timeframe)
            fetched = 0
            try:
                async for page in self.rest.closed_pages(live.series, head):
                    commit = await self.sink.commit_closed_many({key: page})
                    live.head_time = commit.results[key].head_time
                    live.complete(page[-1][0])
                    fetched += len(page)
            except ExchangeError as e:
                live.last_error = f"backfill: {e}"
                log.warning("backfill of %s failed: %s", key, e)
                return
            if fetched:
                self.metrics.backfilled.labels(key).inc(fetched)
                log.info("backfilled %d candles of %s up to %s", fetched, key, live.head_time)
            live.last_error = None

    # -- state ------------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        return [
            {
                "name": c.name,
                "state": c.state,
                "streams": len(c.streams),
                "connected_at": c.connected_at,
                "reconnects": c.reconnects,
                "frames": c.frames,
                "last_error": c.last_error,
            }
            for c in self._connections
        ]

    def heads(self) -> dict[str, int | None]:
        return {k: v.head_time for k, v in self._series.items()}


def _log_batch(commit: BatchCommit, rows: dict[str, int]) -> None:
    db_ms, publish_ms = commit.db_s * 1000, commit.publish_s * 1000
    if len(rows) <= 3:
        for key, n in rows.items():
            log.info(
                "batch %s rows=%d db_ms=%.2f publish_ms=%.2f head_time=%s",
                key, n, db_ms, publish_ms, commit.results[key].head_time,
            )  # fmt: skip
    else:
        log.info(
            "batch %d series rows=%d db_ms=%.2f publish_ms=%.2f",
            len(rows), sum(rows.values()), db_ms, publish_ms,
        )  # fmt: skip
