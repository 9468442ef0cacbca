"""CatchUps: what the stream missed, fetched over the venue's REST API. After each
(re)connect, and whenever a series' stream skips a close, the closed candles from where
the series is complete up to the exchange's present are fetched and committed, one
catch-up at a time per series and a few at once per venue (REST weight is limited too).
A failed catch-up is retried with backoff (never before a ban's end) until it succeeds
or the series is removed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from app.clock import Clock
from app.errors import ExchangeError, UnknownSymbol, UpstreamRateLimited
from app.exchanges.ports import KlineRest
from app.ingest.guard import KlineGuard
from app.ingest.live.completeness import LiveSeries
from app.ingest.live.options import IngestOptions
from app.ingest.metrics import IngestMetrics
from app.ingest.port import CandleSink
from app.logs import log_task_as
from app.tasks import spawn

log = logging.getLogger(__name__)


class CatchUps:
    def __init__(
        self,
        rest: KlineRest,
        sink: CandleSink,
        guard: KlineGuard,
        metrics: IngestMetrics,
        options: IngestOptions,
        clock: Clock,
        *,
        streamed: Callable[[LiveSeries], bool],
    ) -> None:
        self._rest = rest
        self._sink = sink
        self._guard = guard
        self._metrics = metrics
        self._options = options
        self._clock = clock
        self._streamed = streamed  # whether a series is still on the stream
        self._slots = asyncio.Semaphore(options.backfills_at_once)

    def start(self, live: LiveSeries, *, grace: bool = False) -> None:
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
            if t.cancelled() or not self._streamed(live):
                return
            if live.recheck and live.has_hole():
                self.start(live, grace=True)

        task.add_done_callback(done)

    async def _catch_up(self, live: LiveSeries, grace: bool) -> None:
        key = str(live.series)
        log_task_as(series_id=key, venue=live.series.exchange)
        if grace:
            await self._clock.sleep(self._options.close_grace_s)
            if not live.has_hole():
                return  # the closes arrived late after all
        while True:
            try:
                async with self._slots:
                    await self._fetch_missing(live)
            except UnknownSymbol as e:
                live.last_error = f"backfill: {e}"  # no retry can bring candles of it
                return
            except ExchangeError as e:
                first = live.backoff_s == 0
                live.backoff_s = min(self._options.backfill_retry_max_s,
                                     live.backoff_s * 2 or 1.0)  # fmt: skip
                delay = live.backoff_s
                if isinstance(e, UpstreamRateLimited):
                    delay = max(delay, e.retry_after_s)
                live.retry_at = self._clock.time() + delay
                live.last_error = f"backfill: {e}"
                log.log(logging.WARNING if first else logging.DEBUG,
                        "backfill of %s failed (retrying in %.0fs): %s", key, delay, e)  # fmt: skip
                await self._clock.sleep(delay)
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
        rejected = False
        async for fetched_page in self._rest.closed_pages(live.series, after):
            page = self._guard.page(live.series, fetched_page.candles)
            rejected = len(page) < len(fetched_page.candles)
            if not page:
                break
            commit = await self._sink.commit_closed_many({key: page}, {key: fetched_page.extras})
            result = commit.results[key]
            live.head_time = result.head_time
            self._guard.conflicts(key, result.conflicts)
            live.complete(page[-1][0])
            fetched += len(page)
        if fetched:
            self._metrics.backfilled.labels(key).inc(fetched)
            log.info("backfilled %d candles of %s up to %s", fetched, key, live.head_time)
        if rejected:
            # Owed still, so tried again (with backoff) rather than left without a retry.
            raise ExchangeError(
                "the venue's closed candles lie ahead of this server's clock: rejected as "
                "from the future (LIVE_CLOCK_SKEW_S)"
            )
