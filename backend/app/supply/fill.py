"""VenueFill: what the store lacks of a window, fetched from the venue and stored. A range
before everything stored is history (imported, not streamed: clients page it over HTTP);
a range after is committed as closes are."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.candle import CandleRow, KlineExtras
from app.exchanges.registry import VenueRegistry
from app.hub.writer import CandleWriter
from app.ingest.guard import KlineGuard
from app.ingest.provenance import Provenance
from app.series import SeriesId, timeframe_seconds
from app.store import CandleStore
from app.supply.ports import Fetched

log = logging.getLogger(__name__)


class VenueFill:
    def __init__(
        self,
        store: CandleStore,
        venues: VenueRegistry,
        writer: CandleWriter,
        guards: Mapping[str, KlineGuard],
        provenance: Provenance | None,
    ) -> None:
        self._store = store
        self._venues = venues
        self._writer = writer
        self._guards = guards
        self._provenance = provenance

    async def __call__(self, series: SeriesId, after: int, until: int) -> int | None:
        """Fetch the venue's closed candles in `(after, until]` and store them; returns
        the venue's first candle time when this found where its history starts."""
        key = str(series)
        if self._provenance is not None:
            await self._provenance.claim(series)
        tf = timeframe_seconds(series.timeframe)
        stats = await self._store.stats(key)
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
        log.info("fetched %s after %s from the venue for a reader", key, after)
        if nothing_before and (first is None or first > after + tf):
            # The venue's history of the series starts at `first` (nothing before it).
            return first if first is not None else until + tf
        return None

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
        return rows if guard is None else guard.page(str(series), series.timeframe, rows)
