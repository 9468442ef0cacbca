"""Which symbols the exchange lists, from its market list (`exchangeInfo`, through ccxt),
cached and refreshed. Consulted before anything starts work for a series (a download, an
import, a live job), so made-up pairs cost nothing."""

from __future__ import annotations

import logging
import time
from typing import Final

from app.ingest.rest_klines import BinanceRestKlines, RestKlineError, UnknownSymbol
from app.series import Market, SeriesId

log = logging.getLogger(__name__)

REFRESH_S: Final = 3_600.0
# After a failed load, ask again no sooner than this (the exchange may be down).
RETRY_S: Final = 30.0


class MarketCatalog:
    def __init__(self, rest: BinanceRestKlines) -> None:
        self._rest = rest
        self._loaded_at: dict[Market, float] = {}
        self._failed_at: dict[Market, float] = {}

    async def is_listed(self, series: SeriesId) -> bool | None:
        """Whether the exchange lists `series`' symbol; None when its market list cannot
        be had (then the caller decides; nothing is cached)."""
        market = series.market
        now = time.monotonic()
        if now - self._failed_at.get(market, -RETRY_S) < RETRY_S:
            return None
        reload = now - self._loaded_at.get(market, now) > REFRESH_S
        try:
            await self._rest.check_symbol(series, reload=reload)
        except UnknownSymbol:
            self._loaded_at.setdefault(market, now)
            return False
        except RestKlineError as e:
            log.warning("cannot check %s against the market list: %s", series, e)
            self._failed_at[market] = now
            return None
        if reload or market not in self._loaded_at:
            self._loaded_at[market] = now
        return True
