"""CandleQuery: how every API reads a series' candles, the chart's and each
exchange-compatible facade's alike: admission (may this client have the series served and
its work started), history on demand (a datadir import or a download), then one window
read from the store.

The facades (`klines`) read as a venue would answer: the window's closed candles, and the
candle forming now as the live feed last sent it. A series asked for is kept live while
it is asked for (a lease). What the store lacks of a window (a series not yet live, older
history than is stored) is fetched from the venue once, stored and served; identical
fetches in flight are one. At a candle boundary a live series' close is awaited a moment
(it is committed within a second of the boundary) rather than served one candle late.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar, cast

from app.admission import Admission
from app.candle import Candle, CandleRow, KlineExtras
from app.clock import Clock
from app.errors import ExchangeError
from app.exchanges.ports import KlineWindow
from app.exchanges.registry import VenueRegistry
from app.history.source import HistorySource
from app.hub.forming import FormingCandle, FormingCandles
from app.hub.writer import CandleWriter
from app.ingest.guard import KlineGuard
from app.ingest.port import IngestPort
from app.lru import CostBoundedLru
from app.series import SeriesId, align_time, timeframe_seconds
from app.store import CandlePage, CandleStore

log = logging.getLogger(__name__)

# Fetches and stores a series' closed candles in (after, until]; returns the venue's first
# candle time when that fetch found it.
Fill = Callable[[SeriesId, int, int], Awaitable[int | None]]
# The venue's candle of a series opening at a time, if it has one.
FetchForming = Callable[[SeriesId, int], Awaitable[Candle | None]]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueryOptions:
    close_wait_s: float  # at a boundary, how long a live close is awaited


class CandleQuery:
    # Response bodies kept by the version of the page they render (see `rendered`).
    RENDERED_BYTES = 32 * 1024 * 1024
    VENUE_GAPS = 100_000

    def __init__(
        self,
        store: CandleStore,
        admission: Admission,
        history: HistorySource | None,
        forming: FormingCandles,
        *,
        writer: CandleWriter,
        venues: VenueRegistry,
        ingest: IngestPort,
        guards: Mapping[str, KlineGuard],
        clock: Clock,
        options: QueryOptions,
        fill: Fill | None = None,
        fetch_forming: FetchForming | None = None,
    ) -> None:
        """`fill` fetches and stores what a window lacks, `fetch_forming` asks a venue for the
        candle forming now (in a cluster, both are asked of the leader); default: this
        query's own `fill` and the venues."""
        self._store = store
        self._admission = admission
        self._history = history
        self._forming = forming
        self._writer = writer
        self._venues = venues
        self._ingest = ingest
        self._guards = guards
        self._clock = clock
        self._options = options
        self._fill_via: Fill = fill or self.fill
        self._forming_via: FetchForming = fetch_forming or venues.forming
        self._inflight: dict[tuple[object, ...], asyncio.Future[object]] = {}
        # The first candle a venue has of a series, once a fetch has found it.
        self._floors: dict[str, int] = {}
        # Holes inside a window the venue was asked to fill and had no candle for (its
        # outages): not asked again.
        self._venue_gaps: CostBoundedLru[tuple[str, int, int], bool] = CostBoundedLru(
            self.VENUE_GAPS
        )
        # The venue's forming candle of a series not live yet, by the candle it opened.
        self._fetched_forming: dict[str, tuple[int, Candle | None]] = {}
        self._rendered: CostBoundedLru[Hashable, bytes] = CostBoundedLru(self.RENDERED_BYTES)

    async def window(
        self,
        series: SeriesId,
        client: str,
        limit: int,
        *,
        since: int | None = None,
        before: int | None = None,
        newest: bool | None = None,
    ) -> CandlePage:
        """The closed candles after `since` and before `before` (exclusive, either
        optional), ascending: the oldest `limit` when `since` is given, else the newest
        (`newest` chooses when both are). Raises what admission raises."""
        await self._admission.admit(series, client)
        if self._history is not None:
            # Scrolling back (the newest before `before`) needs the whole file; a read
            # after `since`, or of the newest, is served once those candles are in.
            take_newest = since is None if newest is None else newest
            await self._history.ensure(
                series, since=since, complete=take_newest and before is not None
            )
        return await self._store.page(str(series), limit, since=since, before=before, newest=newest)

    def rendered(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """`render()`, or its earlier result for `key`: a page's `version` (which changes
        when its series is written) plus what else the rendering depends on. Many clients
        polling the same window (bots, one chart open in many browsers) cost one render
        per change."""
        body = self._rendered.get(key)
        if body is None:
            body = render()
            self._rendered.put(key, body, len(body))
        return body

    def forming(self, series: SeriesId) -> FormingCandle | None:
        """The series' newest forming candle, as its live feed last sent it."""
        return self._forming.get(str(series))

    # -- the facades' reads -----------------------------------------------------------

    async def klines(
        self,
        series: SeriesId,
        client: str,
        limit: int,
        *,
        start: int | None,
        end: int | None,
        newest: bool,
    ) -> KlineWindow:
        key, timeframe = str(series), series.timeframe
        await self._admission.admit(series, client)
        self._ingest.lease(series, client)
        now = int(self._clock.time())
        current = align_time(now, timeframe)
        latest = align_time(current - 1, timeframe)  # the newest candle that has closed
        last = latest if end is None else min(end, latest)
        closed: list[CandleRow] = []
        extras: Mapping[int, KlineExtras] = {}
        version: Hashable = ("empty", key, limit, start, last, newest)
        if start is None or start <= last:
            if self._history is not None:
                await self._history.ensure(series, since=None if start is None else start - 1)
            if last == latest and self._ingest.is_live(key):
                wait = self._options.close_wait_s - (now - current)
                await self._forming.wait_closed(key, latest, wait)
            page = await self._closed(series, limit, start, last, newest)
            closed, version, extras = page.candles, page.version, page.extras
        forming = None
        reaches_now = (end is None or end >= current) and (start is None or start <= current)
        # A window read from `start` that the closed candles fill ends before the present.
        if reaches_now and (newest or len(closed) < limit):
            forming = await self._forming_now(series, current, closed)
        return KlineWindow(closed, forming, version, extras)

    async def _closed(
        self, series: SeriesId, limit: int, start: int | None, last: int, newest: bool
    ) -> CandlePage:
        key = str(series)
        page = await self._read(key, limit, start, last, newest)
        asked: set[tuple[int, int]] = set()
        # A fetch may find where the venue's history starts (a reader asking from 0, as
        # freqtrade does to find a pair's first candle): then the window is looked at again.
        for _ in range(3):
            missing = self._missing(series, page.candles, limit, start, last, newest)
            hole = self._hole(series, page.candles)
            if hole in asked:  # filled, and still there: the venue has no candle in it
                self._venue_gaps.put((key, *hole), True, 1)
            elif hole is not None:
                missing.append(hole)
            if not missing:
                break
            asked.update(missing)
            for after, until in missing:
                fill = partial(self._fill_via, series, after, until)
                try:
                    floor = await self._shared(("fill", key, after, until), fill)
                except ExchangeError as e:
                    # What is stored is served; the venue is asked again by the next reader.
                    log.info("cannot fetch %s after %s from the venue: %s", key, after, e)
                    return page
                if floor is not None:
                    self._floors[key] = floor
            page = await self._read(key, limit, start, last, newest)
        return page

    async def _read(
        self, key: str, limit: int, start: int | None, last: int, newest: bool
    ) -> CandlePage:
        since = None if start is None else start - 1
        return await self._store.page(
            key, limit, since=since, before=last + 1, newest=newest, extras=True
        )

    def _missing(
        self,
        series: SeriesId,
        rows: list[CandleRow],
        limit: int,
        start: int | None,
        last: int,
        newest: bool,
    ) -> list[tuple[int, int]]:
        """The ranges `(after, until]` of the window the store lacks: past its newest
        stored candle, and before its oldest (down to the venue's first candle), each at
        most the window's `limit` candles."""
        tf = timeframe_seconds(series.timeframe)
        want_from = start if start is not None else last - (limit - 1) * tf
        want_from = max(want_from, self._floors.get(str(series), want_from))
        if newest:
            want_from = max(want_from, last - (limit - 1) * tf)
        if not rows:
            until = last if newest else min(last, want_from + (limit - 1) * tf)
            return [(want_from - 1, until)] if want_from <= until else []
        ranges = []
        if rows[-1][0] < last and (newest or len(rows) < limit):
            room = limit if newest else limit - len(rows)
            ranges.append((rows[-1][0], min(last, rows[-1][0] + room * tf)))
        if rows[0][0] > want_from and (not newest or len(rows) < limit):
            ranges.append((want_from - 1, min(rows[0][0] - 1, want_from + (limit - 1) * tf)))
        return ranges

    def _hole(self, series: SeriesId, rows: list[CandleRow]) -> tuple[int, int] | None:
        """The range `(after, until]` from the window's first missing candle inside it to
        its last (a live series' catch-up still paging up, a stream that lost closes), or
        None when the window has no hole the venue has not already been asked to fill."""
        tf = timeframe_seconds(series.timeframe)
        if len(rows) < 2 or rows[-1][0] - rows[0][0] == (len(rows) - 1) * tf:
            return None  # contiguous (the common case, told without walking the rows)
        gaps = [(a[0], b[0]) for a, b in itertools.pairwise(rows) if b[0] - a[0] > tf]
        hole = (gaps[0][0], gaps[-1][1] - tf)
        return None if self._venue_gaps.get((str(series), *hole)) else hole

    async def fill(self, series: SeriesId, after: int, until: int) -> int | None:
        """Fetch the venue's closed candles in `(after, until]` and store them; returns
        the venue's first candle time when this found where its history starts."""
        key = str(series)
        tf = timeframe_seconds(series.timeframe)
        guard = self._guards.get(series.exchange)
        stats = await self._store.stats(key)
        nothing_before = stats is None or stats.first_time is None or until < stats.first_time
        first: int | None = None
        async for fetched in self._venues.closed_pages(series, after):
            rows, extras = fetched.candles, fetched.extras
            page = guard.page(key, series.timeframe, rows) if guard is not None else rows
            if not page:
                break
            first = page[0][0] if first is None else first
            page = [c for c in page if c[0] <= until]
            if page:
                if nothing_before:  # history, not streamed: clients page it over HTTP
                    await self._writer.import_batch(key, page, None, extras)
                else:
                    await self._writer.commit_closed_many({key: page}, {key: extras})
            if len(page) < len(rows) or not page:
                break
        log.info("fetched %s after %s from the venue for a reader", key, after)
        if nothing_before and (first is None or first > after + tf):
            # The venue's history of the series starts at `first` (nothing before it).
            return first if first is not None else until + tf
        return None

    async def _forming_now(
        self, series: SeriesId, current: int, closed: list[CandleRow]
    ) -> Candle | None:
        """The candle opening at `current`: the live feed's newest state, else the venue's
        (asked once per series and candle: until the series' lease has made it live, a
        reader gets that first state), else a flat candle at the last close."""
        key = str(series)
        held = self._forming.get(key)
        if held is not None and held.candle.candle_time == current:
            return held.candle
        fetched = self._fetched_forming.get(key)
        if fetched is not None and fetched[0] == current:
            return fetched[1] or _flat_after(closed, current)
        try:
            candle = await self._shared(
                ("forming", key, current), lambda: self._forming_via(series, current)
            )
        except ExchangeError as e:
            log.info("no forming candle of %s from the venue: %s", key, e)
            return _flat_after(closed, current)
        self._fetched_forming[key] = (current, candle)
        return candle or _flat_after(closed, current)

    async def _shared(self, key: tuple[object, ...], call: Callable[[], Awaitable[T]]) -> T:
        """`call()` once for everyone asking the same `key` meanwhile."""
        running = self._inflight.get(key)
        if running is not None:
            return cast(T, await asyncio.shield(running))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await call()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved, even when nobody else was waiting
            raise
        finally:
            del self._inflight[key]
        future.set_result(result)
        return result


def _flat_after(closed: list[CandleRow], current: int) -> Candle | None:
    """When the venue cannot say: the candle that just opened, at the last close, with no
    volume yet (what a quiet market shows in its first moments)."""
    if not closed:
        return None
    price = closed[-1][4]
    return Candle(current, price, price, price, price, 0.0)
