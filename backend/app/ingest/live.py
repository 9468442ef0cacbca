"""LiveIngestor: the live klines of one venue's market, over that venue's `LiveFeed`.

Written once for every venue: the feed says what to send and what a frame means; this
holds the connections (as many as the venue's topics-per-connection limit needs), adds and
removes topics, reconnects with backoff within the venue's connection-rate limit, sends the
venue's heartbeat, and watches for silence. Closed klines are buffered and committed in
batches (then published by the sink); forming klines are only published. Whatever happens
to the connection, the store ends up with every closed candle: after each (re)connect, and
whenever a series' stream skips a close, the missing candles are fetched over the venue's
REST API from the store's head up to the exchange's present. A series owes the window it
started with (`backfill_max_candles` when the store had less) until REST has delivered it:
a failed catch-up is retried with backoff, whatever closes the stream brings meanwhile.
Every frame and REST page passes the `KlineGuard` first (untrusted input).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from app.candle import Candle, KlineExtras
from app.clock import SYSTEM_CLOCK, Clock
from app.errors import ExchangeError, UnknownSymbol, UpstreamRateLimited
from app.exchanges.ports import (
    Action,
    FeedEvent,
    FrameError,
    KlineEvent,
    KlineRest,
    LiveFeed,
    PlannedReconnect,
    RequestRefused,
)
from app.ingest.failures import FailureLog
from app.ingest.guard import KlineGuard
from app.ingest.metrics import IngestMetrics
from app.ingest.port import BatchCommit, CandleSink
from app.series import SeriesId, align_time, timeframe_seconds
from app.store import CandleStore, Conflict
from app.tasks import spawn

log = logging.getLogger(__name__)

ConnectionState = Literal["connecting", "open", "backoff", "stopped"]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    batch_max: int = 500
    flush_s: float = 0.25
    stale_s: float = 30.0  # no frame for this long: the connection is dead
    close_grace_s: float = 3.0  # wait this long for a late close before asking REST
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    healthy_s: float = 30.0  # a connection this old resets the backoff
    backfill_max_candles: int = 1000  # the window a live series holds at least
    backfills_at_once: int = 4  # REST weight is limited too
    backfill_retry_max_s: float = 60.0  # a failed catch-up is retried, backing off to this
    max_clock_skew_s: float = 10.0  # how far the exchange's candles may run ahead of our clock


@dataclass(eq=False)
class LiveSeries:
    series: SeriesId
    topic: str
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
    backoff_s: float = 0.0  # the last wait after a failed catch-up (0 after a success)
    retry_at: float | None = None  # wall clock of the next try of a failed catch-up
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

    def lost(self, times: set[int]) -> None:
        """Closes counted as buffered were not stored after all (a failed commit)."""
        if self.complete_through is not None and self.complete_through >= min(times):
            self.complete_through = min(times) - self.tf
        self.closes_ahead -= times

    def owed(self, now: float) -> dict[str, int] | None:
        """The closed candles (by `now`) still neither stored nor buffered, or None."""
        timeframe = self.series.timeframe
        latest = align_time(align_time(int(now), timeframe) - 1, timeframe)
        if self.complete_through is None or self.complete_through >= latest:
            return None
        first = self.complete_through + self.tf
        missing = (latest - first) // self.tf + 1 - sum(1 for t in self.closes_ahead if t <= latest)
        return {"from": first, "through": latest, "candles": missing}


class _AttemptLimiter:
    """At most `limit` connection attempts in any 5 minutes (the venue's own rule)."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self._limit = limit
        self._clock = clock
        self._attempts: deque[float] = deque()

    async def wait(self) -> None:
        while True:
            now = self._clock.monotonic()
            while self._attempts and self._attempts[0] < now - 300:
                self._attempts.popleft()
            if len(self._attempts) < self._limit:
                self._attempts.append(now)
                return
            await self._clock.sleep(self._attempts[0] + 300 - now)


class _Connection:
    def __init__(self, ingestor: LiveIngestor, number: int) -> None:
        self.ingestor = ingestor
        self.feed = ingestor.feed
        self.clock = ingestor.clock
        self.name = f"{self.feed.name}-ws-{number}"
        self.topics: set[str] = set()  # what this connection should stream
        self._subscribed: set[str] = set()  # what this session has asked the venue for
        self._topics_changed = asyncio.Event()
        self.state: ConnectionState = "connecting"
        self.ws: ClientConnection | None = None
        self.connected_at: float | None = None
        self.reconnects = 0
        self.frames = 0
        self.last_error: str | None = None
        self._request_id = 0
        self._last_request = -1e9
        self._last_frame = 0.0
        self._ending: Literal["stale", "age"] | None = None
        self._send_lock = asyncio.Lock()
        self.task = spawn(self._run(), self.name)

    def add(self, topic: str) -> None:
        self.topics.add(topic)
        self._topics_changed.set()

    def remove(self, topic: str) -> None:
        self.topics.discard(topic)
        self._topics_changed.set()

    async def _subscribe_changes(self) -> None:
        """Ask the venue for what `topics` holds and no more, in as few requests as its
        limits allow: a whitelist of a thousand series added one request each would take
        minutes at the venue's request rate."""
        step = self.feed.limits.topics_per_request
        while True:
            drop = sorted(self._subscribed - self.topics)
            take = sorted(self.topics - self._subscribed)
            if not drop and not take:
                return
            # Each pass works on a snapshot; what changes while it sends, the next one sees.
            work: tuple[tuple[Action, list[str]], ...] = (
                ("unsubscribe", drop),
                ("subscribe", take),
            )
            for action, changed in work:
                for i in range(0, len(changed), step):
                    chunk = changed[i : i + step]
                    self._request_id += 1
                    await self._send(self.feed.request(action, chunk, self._request_id))
                    if action == "subscribe":
                        self._subscribed.update(chunk)
                    else:
                        self._subscribed.difference_update(chunk)

    async def _follow_topics(self) -> None:
        while True:
            await self._topics_changed.wait()
            self._topics_changed.clear()
            await self._subscribe_changes()

    async def _send(self, text: str) -> None:
        """Send if connected, never faster than the venue's incoming-message limit."""
        async with self._send_lock:
            ws = self.ws
            if ws is None:
                return
            wait = self._last_request + 1.0 / self.feed.limits.requests_per_s
            wait -= self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            self._last_request = self.clock.monotonic()
            with contextlib.suppress(WebSocketException):
                await ws.send(text)

    async def _run(self) -> None:
        options = self.ingestor.options
        metrics = self.ingestor.metrics
        attempt = 0
        while True:
            await self.ingestor.attempts.wait()
            self.state = "connecting"
            planned = False
            opened: float | None = None
            self._ending = None  # a failed connect is not the last session's ending
            try:
                async with connect(
                    self.feed.url,
                    open_timeout=10,
                    ping_interval=None,  # the venue pings or wants its own heartbeat
                    close_timeout=2,
                    max_size=2**22,
                ) as ws:
                    opened = self.clock.monotonic()
                    self.ws, self.state = ws, "open"
                    self.connected_at = self.clock.time()
                    self.last_error = None
                    self.ingestor.failures.recovered(self.name)
                    planned = await self._session(ws, opened)
            except asyncio.CancelledError:
                self.state = "stopped"
                raise
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, WebSocketException) as e:
                if self._ending == "stale":
                    self.last_error = f"no frame for {options.stale_s:g}s"
                elif self._ending == "age":
                    planned = True
                else:
                    self.last_error = f"{type(e).__name__}: {e}"
            finally:
                self.ws = None
            self.reconnects += 1
            metrics.reconnects.labels(self.ingestor.exchange, self.ingestor.market).inc()
            if opened is not None and self.clock.monotonic() - opened >= options.healthy_s:
                attempt = 0
            if planned:
                delay = 0.0
            else:
                delay = min(options.backoff_max_s, options.backoff_initial_s * 2**attempt)
                delay *= random.uniform(0.5, 1.5)
                attempt += 1
                self.ingestor.failures.failed(self.name, self.last_error or "closed", delay)
            self.state = "backoff"
            await self.clock.sleep(delay)

    async def _session(self, ws: ClientConnection, opened: float) -> bool:
        """Subscribe, then read until the connection ends. True for a planned reconnect
        (announced by the venue, or ahead of its connection-age cut)."""
        self._last_frame = opened
        watchdog = spawn(self._watch(ws, opened), f"{self.name} watchdog")
        follower: asyncio.Task[None] | None = None
        try:
            self._subscribed.clear()  # a new session has asked for nothing yet
            self._topics_changed.clear()
            await self._subscribe_changes()
            self.ingestor.connected(self)
            follower = spawn(self._follow_topics(), f"{self.name} subscriptions")
            return await self._read(ws)
        finally:
            watchdog.cancel()
            if follower is not None:
                follower.cancel()

    async def _watch(self, ws: ClientConnection, opened: float) -> None:
        """Send the venue's heartbeat on time; end a connection that went silent, or that
        nears the venue's age cut, by aborting it (the read loop then ends)."""
        stale_s = self.ingestor.options.stale_s
        limits = self.feed.limits
        period = stale_s / 4
        if limits.heartbeat_s is not None:
            period = min(period, limits.heartbeat_s)
        beat = self.feed.heartbeat()
        last_beat = opened
        while True:
            await self.clock.sleep(period)
            now = self.clock.monotonic()
            if now - self._last_frame > stale_s:
                self._ending = "stale"
            elif limits.max_connection_age_s is not None and (
                now - opened > limits.max_connection_age_s
            ):
                log.info("%s: reconnecting ahead of the connection-age cut", self.name)
                self._ending = "age"
            if self._ending is not None:
                if ws.transport is not None:
                    ws.transport.abort()
                return
            heartbeat_s = limits.heartbeat_s
            if beat is not None and heartbeat_s is not None and now - last_beat >= heartbeat_s:
                last_beat = now
                await self._send(beat)

    async def _read(self, ws: ClientConnection) -> bool:
        ingestor = self.ingestor
        async for raw in ws:
            self._last_frame = self.clock.monotonic()
            self.frames += 1
            try:
                events = self.feed.parse(raw)
            except FrameError as e:
                ingestor.metrics.bad_frames.labels(ingestor.exchange, ingestor.market).inc()
                log.debug("%s: ignoring a bad frame: %s", self.name, e)
                continue
            for event in ingestor.admitted(events, self.name):
                if isinstance(event, KlineEvent):
                    ingestor.on_kline(event)
                elif isinstance(event, PlannedReconnect):
                    log.info("%s: %s, reconnecting", self.name, event.reason)
                    return True
                elif isinstance(event, RequestRefused):
                    log.warning("%s: refused: %s", self.name, event.reason)
        if self._ending is not None:  # aborted by the watchdog
            raise ConnectionError(self._ending)
        return False


class LiveIngestor:
    def __init__(
        self,
        exchange: str,
        feed: LiveFeed,
        rest: KlineRest,
        store: CandleStore,
        sink: CandleSink,
        metrics: IngestMetrics,
        options: IngestOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.exchange = exchange
        self.feed = feed
        self.market = feed.market
        self.rest = rest
        self.store = store
        self.sink = sink
        self.metrics = metrics
        self.options = options or IngestOptions()
        self.clock = clock
        self.attempts = _AttemptLimiter(feed.limits.connects_per_5min, clock)
        self.guard = KlineGuard(
            exchange, clock, self.options.max_clock_skew_s, metrics.frames_rejected
        )
        self._series: dict[str, LiveSeries] = {}
        self._by_topic: dict[str, LiveSeries] = {}
        self._connections: list[_Connection] = []
        self._buffer: list[tuple[LiveSeries, Candle, KlineExtras | None]] = []
        self._buffered = asyncio.Event()
        self._full = asyncio.Event()
        self._flusher = spawn(self._flush_loop(), f"{feed.name}-flush")
        self._catchup_slots = asyncio.Semaphore(self.options.backfills_at_once)
        self.failures = FailureLog(log, f"{feed.name} connections", clock)

    # -- series -----------------------------------------------------------------------

    def series_state(self, series_id: str) -> LiveSeries | None:
        return self._series.get(series_id)

    async def add(self, series: SeriesId) -> None:
        """Start streaming `series`. Raises `UnknownSymbol` for a symbol the exchange
        does not list (checked against its market list, not retried). A list that cannot
        be had now does not keep the series off the stream, which does not need it."""
        key = str(series)
        if key in self._series:
            return
        try:
            await self.rest.check_symbol(series)
        except UnknownSymbol:
            raise
        except ExchangeError as e:
            log.info("streaming %s before its venue's market list can be had: %s", key, e)
        topic = self.feed.topic(series)
        live = LiveSeries(series, topic, timeframe_seconds(series.timeframe))
        stats = await self.store.stats(key)
        live.head_time = stats.head_time if stats else None
        # The window a live series holds at least: owed until REST delivers it, so a close
        # stored first (while REST is refused) cannot hide it.
        window_from = align_time(
            int(self.clock.time()) - self.options.backfill_max_candles * live.tf,
            series.timeframe,
        )
        if stats is None or stats.head_time is None or (stats.first_time or 0) > window_from:
            live.complete_through = window_from - live.tf
        else:
            live.complete(stats.head_time)
        connection = next(
            (c for c in self._connections
             if len(c.topics) < self.feed.limits.topics_per_connection),
            None,
        )  # fmt: skip
        if connection is None:
            connection = _Connection(self, len(self._connections) + 1)
            self._connections.append(connection)
        live.connection = connection
        self._series[key] = live
        self._by_topic[topic] = live
        connection.add(topic)
        self.catch_up(live)

    async def remove(self, series: SeriesId) -> None:
        live = self._series.pop(str(series), None)
        if live is None:
            return
        self._by_topic.pop(live.topic, None)
        if live.catching_up is not None:
            live.catching_up.cancel()
        connection = live.connection
        if connection is not None:
            connection.remove(live.topic)
            if not connection.topics:
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

    def admitted(self, events: Sequence[FeedEvent], where: str) -> Sequence[FeedEvent]:
        """A parsed frame's events, or none if the frame is not one the venue sends."""
        klines = sum(1 for e in events if isinstance(e, KlineEvent))
        if klines <= 1 or self.guard.frame_fits(klines, self.feed.limits.klines_per_frame, where):
            return events
        return ()

    def on_kline(self, update: KlineEvent) -> None:
        live = self._by_topic.get(update.topic)
        if live is None:
            return  # unsubscribed meanwhile
        key = str(live.series)
        t = update.candle.candle_time
        if not self.guard.in_time(key, live.series.timeframe, t, update.closed):
            return
        if live.newest_seen is None or t > live.newest_seen:
            live.newest_seen = t
        if update.closed:
            self.metrics.closed_received.labels(key).inc()
            live.closed_seen(t)
            self._buffer.append((live, update.candle, update.extras))
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
            await self._full_or(self.options.flush_s)
            await self._flush()

    async def _full_or(self, seconds: float) -> None:
        """Until the buffer is full or `seconds` have passed on the clock."""
        waits = [
            asyncio.ensure_future(self._full.wait()),
            asyncio.ensure_future(self.clock.sleep(seconds)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        self._buffered.clear()
        self._full.clear()
        if not buffer:
            return
        batches: dict[str, dict[int, Candle]] = {}
        extras: dict[str, dict[int, KlineExtras]] = {}
        lives: dict[str, LiveSeries] = {}
        for live, candle, said in buffer:
            key = str(live.series)
            # A second close of one candle in a batch does not replace the first.
            held = batches.setdefault(key, {}).setdefault(candle.candle_time, candle)
            if held != candle:
                self.guard.conflicts(key, [Conflict(candle.candle_time, held, candle)])
            elif said is not None:
                extras.setdefault(key, {}).setdefault(candle.candle_time, said)
            lives[key] = live
        try:
            commit = await self.sink.commit_closed_many(
                {k: sorted(v.values()) for k, v in batches.items()}, extras
            )
        except Exception:
            log.exception("committing %d closed candles failed; they will be backfilled",
                          len(buffer))  # fmt: skip
            for key, live in lives.items():
                # Not stored after all: the next frame finds the hole.
                live.lost(set(batches[key]))
            return
        self.metrics.batch_db_seconds.observe(commit.db_s)
        for key, result in commit.results.items():
            live = lives[key]
            live.head_time = result.head_time
            self.guard.conflicts(key, result.conflicts)
            rows = len(batches[key])
            self.metrics.rows_written.labels(key).inc(rows)
            live.last_batch = {
                "rows": rows,
                "db_ms": round(commit.db_s * 1000, 2),
                "publish_ms": round(commit.publish_s * 1000, 2),
                "head_time": result.head_time,
                "at": self.clock.time(),
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
        task = spawn(self._catch_up(live, grace), f"backfill {live.series}")
        live.catching_up = task
        live.recheck = False

        def done(t: asyncio.Task[None]) -> None:
            live.catching_up = None
            if t.cancelled() or self._series.get(str(live.series)) is not live:
                return
            if live.recheck and live.has_hole():
                self.catch_up(live, grace=True)

        task.add_done_callback(done)

    async def _catch_up(self, live: LiveSeries, grace: bool) -> None:
        """Fetch what the series lacks from where it is complete up to the present; on
        failure try again, backing off (and never before a ban's end), until it succeeds
        or the series is removed."""
        key = str(live.series)
        if grace:
            await self.clock.sleep(self.options.close_grace_s)
            if not live.has_hole():
                return  # the closes arrived late after all
        while True:
            try:
                async with self._catchup_slots:
                    await self._fetch_missing(live)
            except UnknownSymbol as e:
                live.last_error = f"backfill: {e}"  # no retry can bring candles of it
                return
            except ExchangeError as e:
                first = live.backoff_s == 0
                live.backoff_s = min(self.options.backfill_retry_max_s,
                                     live.backoff_s * 2 or 1.0)  # fmt: skip
                delay = live.backoff_s
                if isinstance(e, UpstreamRateLimited):
                    delay = max(delay, e.retry_after_s)
                live.retry_at = self.clock.time() + delay
                live.last_error = f"backfill: {e}"
                log.log(logging.WARNING if first else logging.DEBUG,
                        "backfill of %s failed (retrying in %.0fs): %s", key, delay, e)  # fmt: skip
                await self.clock.sleep(delay)
                continue
            live.backoff_s, live.retry_at, live.last_error = 0.0, None, None
            return

    async def _fetch_missing(self, live: LiveSeries) -> None:
        key = str(live.series)
        # From where the series is complete now (never past a hole, unlike the store's
        # head, which a live close may have moved beyond one).
        after = live.complete_through
        assert after is not None  # set when the series was added
        fetched = 0
        async for fetched_page in self.rest.closed_pages(live.series, after):
            page = self.guard.page(key, live.series.timeframe, fetched_page.candles)
            if not page:
                break
            commit = await self.sink.commit_closed_many({key: page}, {key: fetched_page.extras})
            result = commit.results[key]
            live.head_time = result.head_time
            self.guard.conflicts(key, result.conflicts)
            live.complete(page[-1][0])
            fetched += len(page)
        if fetched:
            self.metrics.backfilled.labels(key).inc(fetched)
            log.info("backfilled %d candles of %s up to %s", fetched, key, live.head_time)

    # -- state ------------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        return [
            {
                "name": c.name,
                "state": c.state,
                "streams": len(c.topics),
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
