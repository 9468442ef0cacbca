"""What the core needs of a venue. Adapters (`exchanges/<venue>/`) implement these; the core
types against them and never imports an adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from app.candle import CandleRow
from app.series import Market, SeriesId


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One listed symbol: the ccxt/freqtrade pair, the venue's own name for it, and its
    price tick and amount step (None when the venue does not say)."""

    symbol: str
    exchange_symbol: str
    price_tick: float | None
    amount_step: float | None


class KlineRest(Protocol):
    """Closed candles over the venue's REST API, paged within its limits."""

    async def check_symbol(self, series: SeriesId) -> None:
        """Raise `UnknownSymbol` if the venue does not list the symbol, `ExchangeError`
        if the venue cannot be asked."""

    def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[list[CandleRow]]:
        """Pages of closed candles with `candle_time > after` (and `<= until`), ascending."""
        ...

    async def close(self) -> None: ...


class MarketCatalog(Protocol):
    """The symbols a venue lists, cached and refreshed."""

    async def is_listed(self, series: SeriesId) -> bool | None:
        """Whether the venue lists `series`' symbol; None when that cannot be known now."""

    async def symbols(self, market: Market) -> Mapping[str, SymbolInfo] | None:
        """Every listed symbol of `market`, by pair; None when the list cannot be had."""

    def cached(self, series: SeriesId) -> SymbolInfo | None:
        """What is known of `series`' symbol without asking the venue."""
