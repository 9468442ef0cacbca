"""RemoteSupply: the supply's calls asked of the cluster's ingest leader over the bus and
awaited (it is the one process calling the exchanges and writing); series are held
through the cluster's demand. `catalogs_through` has the venues' market lists loaded the
same way."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.bus.ports import Ask
from app.candle import Candle, CandleRow
from app.clock import Clock
from app.errors import BusError, ExchangeError, StoreError
from app.exchanges.budget import current_caller
from app.exchanges.catalog import CachedCatalog, LoadMarkets
from app.exchanges.ports import SymbolInfo
from app.exchanges.registry import Venue, VenueRegistry
from app.feeds import IngestPort
from app.series import Market, SeriesId
from app.store import UpsertResult
from app.supply import messages
from app.supply.holds import HoldsThrough
from app.supply.ports import Fetched

log = logging.getLogger(__name__)


class RemoteSupply(HoldsThrough):
    def __init__(
        self,
        ask: Ask,
        demand: IngestPort,
        *,
        has_history: bool,
        timeout_s: float,
        history_timeout_s: float,
    ) -> None:
        super().__init__(demand)
        self._ask = ask
        self._has_history = has_history
        self._timeout_s = timeout_s
        self._history_timeout_s = history_timeout_s

    async def _asked(self, request: messages.Request, timeout_s: float) -> messages.Wire:
        return await self._ask(request.kind, request.to_wire(), timeout_s)

    @property
    def has_history(self) -> bool:
        return self._has_history

    async def ensure_history(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        if not self._has_history:
            return True
        request = messages.EnsureHistory(series, since, complete, download)
        try:
            return messages.ready_of(await self._asked(request, self._history_timeout_s))
        except BusError as e:
            # As when an import outlasts its wait: not servable yet.
            log.warning("history of %s not made servable by the leader: %s", series, e)
            return False

    def history_states(self) -> dict[str, dict[str, Any]]:
        return {}  # the leader's, in its own status

    def history_state_of(self, series_id: str) -> dict[str, Any] | None:
        return None

    async def fill(self, series: SeriesId, after: int, until: int) -> int | None:
        request = messages.Fill(series, after, until, current_caller())
        try:
            return messages.floor_of(await self._asked(request, self._timeout_s))
        except BusError as e:
            raise ExchangeError(str(e)) from e  # the reader gets the venue's 503

    async def fetch_unstored(
        self, series: SeriesId, after: int, until: int, *, limit: int, newest: bool
    ) -> Fetched:
        request = messages.FetchUnstored(series, after, until, limit, newest, current_caller())
        try:
            return messages.fetched_of(await self._asked(request, self._timeout_s))
        except BusError as e:
            raise ExchangeError(str(e)) from e

    async def fetch_forming(self, series: SeriesId, open_time: int) -> Candle | None:
        request = messages.FetchForming(series, open_time, current_caller())
        try:
            return messages.candle_of(await self._asked(request, self._timeout_s))
        except BusError as e:
            raise ExchangeError(str(e)) from e

    async def correct_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        request = messages.CorrectClosed(series_id, tuple(candles))
        try:
            return messages.written_of(series_id, await self._asked(request, self._timeout_s))
        except BusError as e:
            raise StoreError(f"the correction was not written: {e}") from e

    async def markets(self, venue: str, market: Market) -> Mapping[str, SymbolInfo]:
        try:
            answer = await self._asked(messages.LoadMarkets(venue, market), self._timeout_s)
        except BusError as e:
            raise ExchangeError(str(e)) from e  # retried as a venue that is down is
        symbols = messages.symbols_of(answer)
        if symbols is None:
            raise ExchangeError(f"the ingest leader has no {venue} {market} market list")
        return symbols


def catalogs_through(
    remote: RemoteSupply, leading: Callable[[], bool], venues: VenueRegistry, clock: Clock
) -> VenueRegistry:
    """`venues`, their market lists loaded from the venue while this process leads, else
    asked of the leader (the one process calling the exchanges keeps each venue's rate
    budget one budget)."""

    def loader(venue: Venue) -> LoadMarkets:
        async def load(market: Market, reload: bool) -> Mapping[str, SymbolInfo]:
            if leading():
                return await venue.rest.markets(market, reload)
            return await remote.markets(venue.name, market)

        return load

    return VenueRegistry(
        [
            dataclasses.replace(v, catalog=CachedCatalog(v.name, loader(v), clock))
            for v in venues.values()
        ]
    )
