"""VenueFill: what the store lacks of a window, fetched from the venue and stored. A range
before everything stored is history (imported, not streamed: clients page it over HTTP);
a range after is committed as closes are.

A series of events (funding rates) is asked for what came after its newest stored event
only when a new one can have come: once per candle of its timeframe, and again a few
seconds later during the first minute of the candle its next event is due in (the venue
may publish an event a moment after its time). Readers and the companion keeper share
that, so a hundred bots polling funding rates cost the venue one request per contract and
hour.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.candle import CandleRow, KlineExtras
from app.clock import Clock
from app.exchanges.registry import VenueRegistry
from app.hub.writer import CandleWriter
from app.ingest.guard import KlineGuard
from app.ingest.provenance import Provenance
from app.lru import CostBoundedLru
from app.series import SeriesId, align_time, timeframe_seconds
from app.store import CandleStore
from app.supply.ports import Fetched

log = logging.getLogger(__name__)

# During the first `PUBLISH_LAG_S` of a candle, an event not published yet is asked for
# again `RECHECK_S` later.
PUBLISH_LAG_S = 60.0
RECHECK_S = 5.0
# Series whose newest events were asked for, remembered (beyond, one is asked again).
TAILS_KEPT = 100_000


def tail_due(asked_at: float, due_at: int | None, now: float, timeframe: str) -> bool:
    """Whether the venue may have an event newer than it had when asked at `asked_at`,
    its next event expected at `due_at` (None: not known)."""
    opened = align_time(int(asked_at), timeframe)
    if align_time(int(now), timeframe) != opened:
        return True
    # Before the candle the next event is due in, the candle's first ask was enough: a
    # venue that shortens its interval is seen at the next candle's.
    if due_at is not None and opened + timeframe_seconds(timeframe) <= due_at:
        return False
    return asked_at - opened < PUBLISH_LAG_S and now - asked_at >= RECHECK_S


def next_event_at(newest: list[CandleRow]) -> int | None:
    """When the event after the newest two is due: at the interval between them."""
    if len(newest) < 2:
        return None
    return 2 * newest[-1][0] - newest[-2][0]


class VenueFill:
    def __init__(
        self,
        store: CandleStore,
        venues: VenueRegistry,
        writer: CandleWriter,
        guards: Mapping[str, KlineGuard],
        provenance: Provenance | None,
        clock: Clock,
    ) -> None:
        self._store = store
        self._venues = venues
        self._writer = writer
        self._guards = guards
        self._provenance = provenance
        self._clock = clock
        # When each series of events was last asked for what followed its newest, and when
        # its next event is due.
        self._tails: CostBoundedLru[str, tuple[float, int | None]] = CostBoundedLru(TAILS_KEPT)

    async def __call__(self, series: SeriesId, after: int, until: int) -> int | None:
        """Fetch the venue's closed candles in `(after, until]` and store them; returns
        the venue's first candle time when this found where its history starts."""
        key = str(series)
        stats = await self._store.stats(key)
        tail = (
            series.events
            and stats is not None
            and stats.head_time is not None
            and (after >= stats.head_time)
        )
        now = self._clock.time()
        asked = self._tails.get(key)
        if tail and asked is not None and not tail_due(*asked, now, series.timeframe):
            return None  # asked since the venue can have had a newer event
        if self._provenance is not None:
            await self._provenance.claim(series)
        nothing_before = stats is None or stats.first_time is None or until < stats.first_time
        first: int | None = None
        async for fetched in self._venues.closed_pages(series, after):
            rows, extras = fetched.candles, fetched.extras
            page = self._checked(series, rows)
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
        if series.events and (tail or until >= align_time(int(now), series.timeframe)):
            # The venue's newest events, as of now, and when the next is due.
            due_at = next_event_at(await self._store.newest(key, 2))
            self._tails.put(key, (now, due_at), 1)
        log.info("fetched %s after %s from the venue", key, after)
        if not nothing_before:
            return None
        # The venue's history of the series starts at `first` (nothing before it); a range
        # with no event in it, shorter than events can be apart, says nothing of that.
        if first is not None:
            return first if first > after + series.spacing else None
        if series.events and until - after < series.spacing:
            return None
        return until + timeframe_seconds(series.timeframe)

    async def unstored(
        self, series: SeriesId, after: int, until: int, *, limit: int, newest: bool
    ) -> Fetched:
        """The venue's closed candles in `(after, until]`, checked and not stored."""
        rows: dict[int, CandleRow] = {}
        extras: dict[int, KlineExtras] = {}
        async for fetched in self._venues.closed_pages(series, after, until=until):
            candles = self._checked(series, fetched.candles)
            rows.update((c[0], c) for c in candles if c[0] <= until)
            extras.update(fetched.extras)
            if not newest and len(rows) >= limit:
                break
        return sorted(rows.values()), extras

    def _checked(self, series: SeriesId, rows: list[CandleRow]) -> list[CandleRow]:
        """A venue's page as its guard lets it through (untrusted input)."""
        guard = self._guards.get(series.exchange)
        return rows if guard is None else guard.page(series, rows)
