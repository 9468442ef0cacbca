"""A venue's market list, cached and refreshed: which symbols it lists, with their price
tick and amount step. Consulted before anything starts work for a series (a download, an
import, a live job), so made-up pairs cost nothing, and by the listings the chart reads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from app.clock import SYSTEM_CLOCK, Clock
from app.errors import ExchangeError
from app.exchanges.ports import SymbolInfo
from app.series import Market, SeriesId

log = logging.getLogger(__name__)

REFRESH_S: Final = 3_600.0
# After a failed load, ask again no sooner than this (the venue may be down).
RETRY_S: Final = 30.0

LoadMarkets = Callable[[Market, bool], Awaitable[Mapping[str, SymbolInfo]]]


class CachedCatalog:
    """`load(market, reload)` asks the venue; this keeps its answer for `REFRESH_S`."""

    def __init__(self, venue: str, load: LoadMarkets, clock: Clock = SYSTEM_CLOCK) -> None:
        self._venue = venue
        self._load = load
        self._clock = clock
        self._symbols: dict[Market, Mapping[str, SymbolInfo]] = {}
        self._loaded_at: dict[Market, float] = {}
        self._failed_at: dict[Market, float] = {}
        self._locks: dict[Market, asyncio.Lock] = {}

    async def symbols(self, market: Market) -> Mapping[str, SymbolInfo] | None:
        now = self._clock.monotonic()
        cached = self._symbols.get(market)
        if cached is not None and now - self._loaded_at[market] < REFRESH_S:
            return cached
        if now - self._failed_at.get(market, -RETRY_S) < RETRY_S:
            return cached  # the last answer, however old, or None
        async with self._locks.setdefault(market, asyncio.Lock()):
            if self._symbols.get(market) is not cached:  # loaded while we waited
                return self._symbols[market]
            if self._clock.monotonic() - self._failed_at.get(market, -RETRY_S) < RETRY_S:
                return cached  # failed while we waited: the venue is not asked again
            try:
                loaded = await self._load(market, cached is not None)
            except ExchangeError as e:
                log.warning("cannot load the %s %s market list: %s", self._venue, market, e)
                self._failed_at[market] = self._clock.monotonic()
                return cached
            self._symbols[market], self._loaded_at[market] = loaded, self._clock.monotonic()
            return loaded

    async def is_listed(self, series: SeriesId) -> bool | None:
        symbols = await self.symbols(series.instrument_market)
        return None if symbols is None else series.symbol in symbols

    def cached(self, series: SeriesId) -> SymbolInfo | None:
        return self._symbols.get(series.instrument_market, {}).get(series.symbol)
