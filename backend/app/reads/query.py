"""CandleQuery: how every API reads a series' candles, the chart's and each
exchange-compatible facade's alike: admission (may this client have the series served and
its work started), history on demand (a datadir import or a download), then one window
read from the store. A window is answered whole or not at all: never with fewer candles
than the store would hold once filled.

The facades (`klines`) read as a venue would answer: the window's closed candles, and the
candle forming now as the live feed last sent it. A series asked for is kept live while
it is asked for (a lease). What the store lacks of a window (a series not yet live, older
history than is stored) is fetched from the venue once, stored and served; identical
fetches in flight are one; when the venue cannot be asked now (a ban, no room in the
budget, an outage) the read fails with the venue's error. A series the store lacks is
served from one upstream page while its datadir download (deeper history) goes on in the
background. At a candle boundary a live series' close is awaited a moment (it is committed
within a second of the boundary); a close still missing after that is asked of the venue
at most once a second per series, and until the venue has it, that candle is the forming
one: an answer never skips a closed candle to show the next.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial

from app.admission import Admission
from app.candle import Candle, CandleRow, KlineExtras
from app.clock import Clock
from app.errors import ClientError
from app.exchanges.budget import Caller, on_behalf_of
from app.exchanges.ports import KlineWindow
from app.hub.forming import FormingCandle, FormingCandles
from app.lru import CostBoundedLru
from app.series import SeriesId, align_time, timeframe_seconds
from app.single_flight import SingleFlight
from app.store import CandlePage, CandleStore
from app.supply.ports import SeriesSupply

log = logging.getLogger(__name__)

# A chart's read of a window whose history is still coming asks again after this.
HISTORY_RETRY_S = 5


@dataclass(frozen=True, slots=True)
class QueryOptions:
    close_wait_s: float  # at a boundary, how long a live close is awaited
    # A close the venue did not have yet is asked for again no sooner than this.
    edge_ask_s: float = 1.0


class HistoryPending(ClientError):
    """The series' history is still being imported or downloaded, and the window asked for
    is not in the store yet."""

    code = "history_pending"
    status = 503

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CandleQuery:
    # Response bodies kept by the version of the page they render (see `rendered`).
    RENDERED_BYTES = 32 * 1024 * 1024
    VENUE_GAPS = 100_000

    def __init__(
        self,
        store: CandleStore,
        admission: Admission,
        supply: SeriesSupply,
        forming: FormingCandles,
        *,
        clock: Clock,
        options: QueryOptions,
    ) -> None:
        self._store = store
        self._admission = admission
        self._supply = supply
        self._forming = forming
        self._clock = clock
        self._options = options
        # Identical fetches in flight are one: of a range (series, after, until), of a
        # forming candle (series, its open time).
        self._fills: SingleFlight[tuple[str, int, int], int | None] = SingleFlight()
        self._formings: SingleFlight[tuple[str, int], Candle | None] = SingleFlight()
        # The first candle a venue has of a series, once a fetch has found it.
        self._floors: dict[str, int] = {}
        # Holes inside a window the venue was asked to fill and had no candle for (its
        # outages), and past ranges of events it was asked for: not asked again.
        self._venue_gaps: CostBoundedLru[tuple[str, int, int], bool] = CostBoundedLru(
            self.VENUE_GAPS
        )
        # The venue's forming candle of a series not live yet, by the candle it opened.
        self._fetched_forming: dict[str, tuple[int, Candle | None]] = {}
        # When the venue was last asked for a series' newest close (and the close asked).
        self._edge_asked: CostBoundedLru[str, tuple[int, float]] = CostBoundedLru(self.VENUE_GAPS)
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
        if self._supply.has_history:
            # Scrolling back (the newest before `before`) needs the whole file; a read
            # after `since`, or of the newest, is served once those candles are in.
            take_newest = since is None if newest is None else newest
            ready = await self._supply.ensure_history(
                series, since=since, complete=take_newest and before is not None
            )
            if not ready:
                raise HistoryPending(
                    f"the history of {series} is still being imported or downloaded; "
                    "this window is not stored yet",
                    retry_after_s=HISTORY_RETRY_S,
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
        caller: Caller,
        limit: int,
        *,
        start: int | None,
        end: int | None,
        newest: bool,
    ) -> KlineWindow:
        key, timeframe = str(series), series.timeframe
        if caller.kind == "client":
            await self._admission.admit(series, caller.address)
            self._supply.lease(series, caller.address)
        now = int(self._clock.time())
        current = align_time(now, timeframe)
        latest = series.newest_at(now)
        last = latest if end is None else min(end, latest)
        closed: list[CandleRow] = []
        extras: Mapping[int, KlineExtras] = {}
        version: Hashable = ("empty", key, limit, start, last, newest)
        with on_behalf_of(caller):
            if start is None or start <= last:
                if self._supply.has_history and caller.kind != "history":
                    # A datadir file is imported before the read; a download is not
                    # waited for: what the window needs is fetched from the venue below.
                    since = None if start is None else start - 1
                    await self._supply.ensure_history(series, since=since, download=False)
                if last == latest and self._supply.is_live(key):
                    wait = self._options.close_wait_s - (now - current)
                    await self._forming.wait_closed(key, latest, wait)
                if caller.kind == "history":
                    page = await self._through(series, limit, start, last, newest)
                else:
                    page = await self._closed(series, limit, start, last, newest)
                closed, version, extras = page.candles, page.version, page.extras
            forming = None
            reaches_now = (end is None or end >= current) and (start is None or start <= current)
            # A window read from `start` that the closed candles fill ends before the present.
            if reaches_now and (newest or len(closed) < limit) and not series.instant:
                # Until the venue has closed `latest`, it is the candle forming.
                opening = latest if (closed and closed[-1][0] < latest) else current
                if start is None or opening >= start:
                    forming = await self._forming_at(series, opening)
        return KlineWindow(closed, forming, version, extras)

    async def _closed(
        self, series: SeriesId, limit: int, start: int | None, last: int, newest: bool
    ) -> CandlePage:
        """The window's closed candles, what the store lacks of it fetched from the venue
        first; raises the venue's error when that cannot be done now."""
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
            missing = [m for m in missing if m not in asked and self._may_ask(series, m)]
            if series.events:  # a past range of events asked once holds all there are
                missing = [m for m in missing if not self._venue_gaps.get((key, *m))]
            if not missing:
                break
            asked.update(missing)
            for after, until in missing:
                await self._fill(series, after, until)
                if series.events and until < self._newest_close(series):
                    self._venue_gaps.put((key, after, until), True, 1)
            page = await self._read(key, limit, start, last, newest)
        return page

    async def _through(
        self, series: SeriesId, limit: int, start: int | None, last: int, newest: bool
    ) -> CandlePage:
        """This server's own download's read: the store's window when it holds it whole,
        else the venue's, passed through without storing it (the download's file is
        imported next, as it would be from the venue itself; a probe for a pair's first
        candle stores nothing that would sit apart from the rest)."""
        key = str(series)
        page = await self._read(key, limit, start, last, newest)
        missing = self._missing(series, page.candles, limit, start, last, newest)
        if not missing and self._hole(series, page.candles) is None:
            return page
        tf = timeframe_seconds(series.timeframe)
        want_from = start if start is not None else last - (limit - 1) * tf
        if newest:
            want_from = max(want_from, last - (limit - 1) * tf)
        chosen, extras = await self._supply.fetch_unstored(
            series, want_from - 1, last, limit=limit, newest=newest
        )
        chosen = chosen[-limit:] if newest else chosen[:limit]
        kept = {c[0]: extras[c[0]] for c in chosen if c[0] in extras}
        # Named by no store version: a rendering of it is never reused for another read.
        return CandlePage(chosen, page.head_time, ("passed through", object()), kept)

    def _may_ask(self, series: SeriesId, missing: tuple[int, int]) -> bool:
        """Whether the venue may be asked for `missing` now: the newest close alone, when
        the venue was asked for it less than `edge_ask_s` ago and did not have it yet, is
        not asked again, however many clients poll meanwhile (a fetch of it in flight is
        joined instead)."""
        latest = self._newest_close(series)
        if missing[0] < latest - timeframe_seconds(series.timeframe):
            return True
        if (str(series), *missing) in self._fills:
            return True
        asked = self._edge_asked.get(str(series))
        return not (
            asked is not None
            and asked[0] == latest
            and self._clock.monotonic() - asked[1] < self._options.edge_ask_s
        )

    async def _fill(self, series: SeriesId, after: int, until: int) -> None:
        """`fill` once for everyone asking for the same range meanwhile; a range reaching
        the newest close is remembered as asked (see `_may_ask`)."""
        key = str(series)
        latest = self._newest_close(series)
        floor = await self._fills.run(
            (key, after, until), partial(self._supply.fill, series, after, until)
        )
        if floor is not None:
            # Fills of several windows at once each say where history starts at the
            # latest: the venue's first candle, or past an empty range. The tightest holds.
            self._floors[key] = max(floor, self._floors.get(key, floor))
        if until >= latest:
            self._edge_asked.put(key, (latest, self._clock.monotonic()), 1)

    def _newest_close(self, series: SeriesId) -> int:
        """The open time of the series' newest candle that has closed, by this clock."""
        return align_time(int(self._clock.time()), series.timeframe) - timeframe_seconds(
            series.timeframe
        )

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
        most the window's `limit` candles (events: as far as `limit` events can reach)."""
        tf = series.spacing
        want_from = start if start is not None else last - (limit - 1) * tf
        if newest and start is None and series.events and rows and len(rows) < limit:
            # The newest `limit` events reach as far back as they are apart.
            want_from = min(want_from, rows[0][0] - (limit - len(rows)) * tf)
        want_from = max(want_from, self._floors.get(str(series), want_from))
        if newest and not series.events:
            want_from = max(want_from, last - (limit - 1) * tf)
        if not rows:
            until = last if newest else min(last, want_from + (limit - 1) * tf)
            return [(want_from - 1, until)] if want_from <= until else []
        ranges = []
        if rows[-1][0] < last and (newest or len(rows) < limit):
            room = limit if newest else limit - len(rows)
            # The newest window starts past a head far behind (a series not kept for a
            # while): it is what is asked for, the gap before it is left to the healer.
            after = max(rows[-1][0], want_from - 1) if newest else rows[-1][0]
            ranges.append((after, min(last, after + room * tf)))
        if rows[0][0] > want_from and (not newest or len(rows) < limit):
            ranges.append((want_from - 1, min(rows[0][0] - 1, want_from + (limit - 1) * tf)))
        return ranges

    def _hole(self, series: SeriesId, rows: list[CandleRow]) -> tuple[int, int] | None:
        """The range `(after, until]` from the window's first missing candle inside it to
        its last (a live series' catch-up still paging up, a stream that lost closes), or
        None when the window has no hole the venue has not already been asked to fill.
        Events far apart lack nothing."""
        tf = timeframe_seconds(series.timeframe)
        if series.events or len(rows) < 2 or rows[-1][0] - rows[0][0] == (len(rows) - 1) * tf:
            return None  # contiguous (the common case, told without walking the rows)
        gaps = [(a[0], b[0]) for a, b in itertools.pairwise(rows) if b[0] - a[0] > tf]
        hole = (gaps[0][0], gaps[-1][1] - tf)
        return None if self._venue_gaps.get((str(series), *hole)) else hole

    async def _forming_at(self, series: SeriesId, opening: int) -> Candle | None:
        """The candle opening at `opening`: the live feed's newest state, else the venue's
        (asked once per series and candle: until the series' lease has made it live, a
        reader gets that first state); None when the venue has none. Raises the venue's
        error when it cannot be asked."""
        key = str(series)
        held = self._forming.get(key)
        if held is not None and held.candle.candle_time == opening:
            return held.candle
        fetched = self._fetched_forming.get(key)
        if fetched is not None and fetched[0] == opening:
            return fetched[1]
        candle = await self._formings.run(
            (key, opening), lambda: self._supply.fetch_forming(series, opening)
        )
        self._fetched_forming[key] = (opening, candle)
        return candle
