"""HoleHealer: the store's holes filled from the venues, in the background.

A hole (candles a series lacks between its first and its last, `store.holes`) comes from a
datadir file with a gap, a download cut short, a stream that lost closes while the REST
backfill could not reach that far. Every `every_s` each stored series of a venue served
here is looked at, and its holes are asked of the venue newest first (the newest matter
most to a live bot), under the `history` share of the venue's budget, so healing never
delays live ingest or a client's answer. The candles are stored as history is (insert-only:
a held candle stays). A hole the venue has no candles for either (its own outage) is
remembered and asked again only after `retry_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from app.clock import Clock
from app.errors import (
    ExchangeError,
    ProvenanceConflict,
    TradeCanvasError,
    UnknownSymbol,
    UpstreamRateLimited,
)
from app.exchanges.budget import HISTORY, on_behalf_of
from app.exchanges.registry import VenueRegistry
from app.history.source import HistoryWriter
from app.ingest.guard import KlineGuard
from app.ingest.provenance import Provenance
from app.series import SeriesId, parse_series_id
from app.store import CandleStore
from app.store.holes import Hole
from app.tasks import spawn

log = logging.getLogger(__name__)


class HoleHealer:
    def __init__(
        self,
        store: CandleStore,
        venues: VenueRegistry,
        writer: HistoryWriter,
        guards: Mapping[str, KlineGuard],
        clock: Clock,
        provenance: Provenance,
        *,
        every_s: float,
        retry_s: float,
    ) -> None:
        self._store = store
        self._provenance = provenance
        self._venues = venues
        self._writer = writer
        self._guards = guards
        self._clock = clock
        self._every_s = every_s
        self._retry_s = retry_s
        # Holes the venue had no candles for, by series: when to ask again (monotonic).
        self._venue_lacks: dict[str, dict[Hole, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.healed = 0  # candles stored by healing, since start

    def start(self) -> None:
        self._task = spawn(self._run(), "hole healer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def venue_lacks(self, series_id: str) -> int:
        """How many of the series' holes the venue had no candles for when last asked."""
        return len(self._venue_lacks.get(series_id, ()))

    async def _run(self) -> None:
        while True:
            try:
                await self.heal()
            except TradeCanvasError as e:  # the store or a venue now: tried again later
                log.warning("healing holes: %s (tried again in %g s)", e, self._every_s)
            except Exception:  # one bad moment must not end the healing
                log.exception("healing holes failed (tried again in %g s)", self._every_s)
            await self._clock.sleep(self._every_s)

    async def heal(self) -> int:
        """One look over every series with holes; the candles it stored."""
        stored = 0
        for stats in await self._store.list_series():
            if not stats.holes:
                self._venue_lacks.pop(stats.series_id, None)
                continue
            try:
                series = parse_series_id(stats.series_id)
            except TradeCanvasError:
                continue
            if not self._venues.fetches(series):
                continue  # not fetched from a venue here (a contract's funding rates, say)
            stored += await self._heal_series(series)
        self.healed += stored
        return stored

    async def _heal_series(self, series: SeriesId) -> int:
        key = str(series)
        holes = await self._store.holes(key)
        lacks = self._venue_lacks.setdefault(key, {})
        for gone in set(lacks) - set(holes):
            del lacks[gone]
        stored = 0
        now = self._clock.monotonic()
        for hole in reversed(holes):  # newest first
            if lacks.get(hole, now) > now:
                continue
            try:
                got = await self._heal_hole(series, hole)
            except UpstreamRateLimited as e:
                log.info("healing %s paused: %s", key, e)
                return stored
            except (UnknownSymbol, ProvenanceConflict) as e:  # asked again after `retry_s`
                lacks.update(dict.fromkeys(holes, now + self._retry_s))
                log.info("cannot heal %s: %s", key, e)
                return stored
            except ExchangeError as e:
                log.info("cannot heal %s between %d and %d now: %s", key, *hole, e)
                return stored
            stored += got
            if got == 0:
                lacks[hole] = now + self._retry_s
                log.info("%s has no candles between %d and %d either", series.exchange, *hole)
            else:
                lacks.pop(hole, None)
        return stored

    async def _heal_hole(self, series: SeriesId, hole: Hole) -> int:
        key = str(series)
        await self._provenance.claim(series)
        after, before = hole
        guard = self._guards.get(series.exchange)
        stored = 0
        with on_behalf_of(HISTORY):
            async for fetched in self._venues.closed_pages(series, after, until=before - 1):
                rows = [c for c in fetched.candles if after < c[0] < before]
                if guard is not None:
                    rows = guard.page(series, rows)
                if rows:
                    result = await self._writer.import_batch(key, rows, None, fetched.extras)
                    stored += result.inserted
        if stored:
            log.info("healed %d candles of %s between %d and %d", stored, key, after, before)
        return stored
