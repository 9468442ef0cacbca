"""LiveIngestor: the live klines of one venue's market, over that venue's `LiveFeed`.

Written once for every venue. It spreads its series over as many connections as the
venue's topics-per-connection limit needs (`FeedConnection`), keeps how far each series
is complete (`LiveSeries`), commits closed klines in batches (`ClosedBatches`; forming
ones are only published) and has REST fetch whatever the stream missed (`CatchUps`).
Whatever happens to the connection, the store ends up with every closed candle. A series
owes the window it started with (`backfill_max_candles` when the store had less) until
REST has delivered it. Every frame and REST page passes the `KlineGuard` first
(untrusted input).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from app.clock import SYSTEM_CLOCK, Clock
from app.errors import ExchangeError, UnknownSymbol
from app.exchanges.ports import FeedEvent, KlineEvent, KlineRest, LiveFeed
from app.ingest.failures import FailureLog
from app.ingest.guard import KlineGuard
from app.ingest.live.batches import ClosedBatches
from app.ingest.live.catchup import CatchUps
from app.ingest.live.completeness import LiveSeries
from app.ingest.live.connection import FeedConnection
from app.ingest.live.options import IngestOptions
from app.ingest.live.transport import FeedTransport
from app.ingest.live.websocket import WebSocketTransport
from app.ingest.live.windows import WindowLimiter
from app.ingest.metrics import IngestMetrics
from app.ingest.port import CandleSink, FormingOut
from app.series import SeriesId, align_time, timeframe_seconds

log = logging.getLogger(__name__)


class LiveIngestor:
    def __init__(
        self,
        exchange: str,
        feed: LiveFeed,
        rest: KlineRest,
        sink: CandleSink,
        forming: FormingOut,
        metrics: IngestMetrics,
        options: IngestOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        transport: FeedTransport | None = None,
    ) -> None:
        self.exchange = exchange
        self.feed = feed
        self.transport = transport or WebSocketTransport()
        self.market = feed.market
        self.rest = rest
        self.sink = sink
        self.forming = forming
        self.metrics = metrics
        self.options = options or IngestOptions()
        self.clock = clock
        limits = feed.limits
        self.attempts = WindowLimiter(
            [(limits.connects_per_5min, 300.0), (limits.connects_per_s or 0, 1.0)], clock
        )
        self.guard = KlineGuard(
            exchange, clock, self.options.max_clock_skew_s, metrics.frames_rejected
        )
        self.failures = FailureLog(log, f"{feed.name} connections", clock)
        self._series: dict[str, LiveSeries] = {}
        self._by_topic: dict[str, LiveSeries] = {}
        self._connections: list[FeedConnection] = []
        self._batches = ClosedBatches(feed.name, sink, self.guard, metrics, self.options, clock)
        self._catchups = CatchUps(
            rest, sink, self.guard, metrics, self.options, clock,
            streamed=lambda live: self._series.get(str(live.series)) is live,
        )  # fmt: skip

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
        stats = await self.sink.stats(key)
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
            connection = FeedConnection(self, len(self._connections) + 1)
            self._connections.append(connection)
        live.connection = connection
        self._series[key] = live
        self._by_topic[topic] = live
        connection.add(topic)
        self._catchups.start(live)

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
        await self._batches.stop()

    # -- frames (what its connections report) -----------------------------------------

    def connected(self, connection: FeedConnection) -> None:
        """A (re)connect: every series on it may have missed candles meanwhile."""
        for live in list(self._series.values()):
            if live.connection is connection:
                self._catchups.start(live)

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
            self._batches.add(live, update.candle, update.extras)
        else:
            self.metrics.forming_received.labels(key).inc()
            self.forming.forming(key, update.candle, update.event_time_ms)
        if live.has_hole():
            # The close of an earlier candle never came (or came while disconnected).
            self._catchups.start(live, grace=True)

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
