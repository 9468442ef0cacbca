"""Admission: whether a request may start work for a series (an import, a download, a live
job), decided before anything is queued or listed.

A series the store already holds, or that is whitelisted, costs nothing new. Any other must
be listed by the exchange (unknown symbol: `UnknownSymbol`, 404) unless the datadir has a
file for it; while the exchange's market list cannot be had, it is refused
(`MarketListUnavailable`, 503 with `Retry-After`): made-up pairs must not start downloads
and live jobs just because the list is down. What is admitted is charged to the client's
budget of work-starting requests (`TooBusy`, 429), so one client cannot fill the download
slots or the tables."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Final

from app.clock import Clock
from app.errors import ClientError, MarketListUnavailable, ProvenanceConflict, UnknownSymbol
from app.exchanges.catalog import RETRY_S
from app.exchanges.registry import VenueRegistry
from app.history.datadir import Datadirs, series_files
from app.ingest.provenance import Provenance
from app.ratelimit import TokenBucket
from app.series import SeriesId
from app.store import CandleStore

# Clients whose budgets are remembered; the least recently seen is forgotten first.
MAX_CLIENTS: Final = 10_000


class TooBusy(ClientError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Admission:
    def __init__(
        self,
        store: CandleStore,
        venues: VenueRegistry,
        *,
        datadirs: Datadirs | None,
        always_served: frozenset[str],
        starts_work: bool,
        per_client_per_min: float,
        per_client_burst: int,
        clock: Clock,
        provenance: Provenance | None = None,
    ) -> None:
        self._store = store
        self._provenance = provenance
        self._venues = venues
        self._datadirs = datadirs
        self._always_served = always_served
        self._starts_work = starts_work
        self._rate_per_s = per_client_per_min / 60
        self._burst = per_client_burst
        self._clock = clock
        self._budgets: OrderedDict[str, TokenBucket] = OrderedDict()

    async def admit(self, series: SeriesId, client: str) -> None:
        """Return if `client` may have `series` served (and its work started); raise
        `UnknownSymbol`, `ProvenanceConflict` or `TooBusy` otherwise."""
        key = str(series)
        if self._provenance is not None and (conflict := self._provenance.problem(key)):
            raise ProvenanceConflict(conflict)
        if not self._starts_work or key in self._always_served:
            return
        stats = await self._store.stats(key)
        if stats is not None and stats.count:
            return
        has_file = self._datadirs is not None and bool(
            await asyncio.to_thread(series_files, self._datadirs.of(series.exchange), series)
        )
        venue = self._venues.get(series.exchange)
        if not has_file and venue is not None:
            listed = await venue.catalog.is_listed(series)
            market = series.instrument_market  # the list a mark price's contract is on
            if listed is False:
                raise UnknownSymbol(f"{series.symbol} is not listed on {series.exchange} {market}")
            if listed is None:
                raise MarketListUnavailable(
                    f"the {series.exchange} {market} market list cannot be had now, "
                    f"so {series.symbol} cannot be checked; try again later",
                    retry_after_s=round(RETRY_S),
                )
        self._charge(client)

    def _charge(self, client: str) -> None:
        bucket = self._budgets.get(client)
        if bucket is None:
            bucket = self._budgets[client] = TokenBucket(self._rate_per_s, self._burst, self._clock)
            if len(self._budgets) > MAX_CLIENTS:
                self._budgets.popitem(last=False)
        else:
            self._budgets.move_to_end(client)
        if not bucket.take():
            raise TooBusy(
                "too many requests for series not yet stored; try again later",
                retry_after_s=max(1, round(1 / self._rate_per_s)),
            )
