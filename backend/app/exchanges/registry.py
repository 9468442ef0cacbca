"""Which venues this server serves: the exchange part of a series id to its adapter (REST
klines, live feeds, market catalog). Built once by the composition root (`services.py`);
the core reaches a venue only through here."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp

from app.candle import Candle
from app.errors import NotFetched, UnknownSymbol
from app.exchanges.catalog import CachedCatalog
from app.exchanges.ports import FacadeContext, KlinePage, KlineRest, LiveFeed, MarketCatalog
from app.exchanges.upstream import UpstreamLimiter
from app.series import MARKETS, CandleType, Market, SeriesId, venue_timeframes

FacadeBuilder = Callable[[FacadeContext, MarketCatalog], ASGIApp]


@dataclass(frozen=True, slots=True)
class Venue:
    name: str
    markets: tuple[Market, ...]
    timeframes: tuple[str, ...]
    catalog: MarketCatalog
    rest: KlineRest
    # The live feeds by the kind of series each streams.
    feeds: Mapping[CandleType, LiveFeed]
    # ccxt's `urls.api` for this venue's API served at a base URL (this server's facade,
    # which freqtrade's download-data is pointed at).
    api_urls: Callable[[str], Mapping[str, str]]
    # Every upstream REST request of the venue passes it (facade, backfill, market lists).
    limiter: UpstreamLimiter
    # The venue's exchange-compatible API (`/<name>/...`), built once the core exists.
    facade: FacadeBuilder | None
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()
    # ccxt's market type of the venue's `futures` (freqtrade's download-data loads it).
    ccxt_futures_type: str = "linear"
    # The kinds of series its REST serves klines of (a contract's mark prices, say); those
    # of its feeds when not given.
    fetched: tuple[CandleType, ...] = ()

    @classmethod
    def of(
        cls, name: str, rest: KlineRest, feeds: Mapping[CandleType, LiveFeed], *,
        api_urls: Callable[[str], Mapping[str, str]], limiter: UpstreamLimiter,
        facade: FacadeBuilder | None = None,
        closers: tuple[Callable[[], Awaitable[None]], ...] = (),
        ccxt_futures_type: str = "linear",
        fetched: tuple[CandleType, ...] = (),
    ) -> Venue:  # fmt: skip
        """A venue serving `feeds`' markets at its timeframes, its catalog over `rest`."""
        markets = tuple(m for m in MARKETS if m in feeds)
        return cls(
            name, markets, venue_timeframes(name), CachedCatalog(name, rest.markets),
            rest, feeds, api_urls, limiter, facade, closers, ccxt_futures_type,
            fetched or tuple(feeds),
        )  # fmt: skip


class VenueRegistry(Mapping[str, Venue]):
    """The venues by name; also the REST klines of any series (`KlinePages`), from its venue."""

    def __init__(self, venues: list[Venue]) -> None:
        self._venues = {v.name: v for v in venues}

    def __getitem__(self, name: str) -> Venue:
        return self._venues[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._venues)

    def __len__(self) -> int:
        return len(self._venues)

    def fetches(self, series: SeriesId) -> bool:
        """Whether `series`' venue is served here and its REST serves klines of its kind."""
        venue = self._venues.get(series.exchange)
        return venue is not None and series.market in venue.fetched

    def _rest(self, series: SeriesId) -> KlineRest:
        venue = self._venues.get(series.exchange)
        if venue is None:
            raise UnknownSymbol(f"{series.exchange} is not served here")
        if series.market not in venue.fetched:
            raise NotFetched(
                f"{series.market} series are not fetched from {series.exchange}: "
                "only what is imported of them is served"
            )
        return venue.rest

    async def check_symbol(self, series: SeriesId) -> None:
        await self._rest(series).check_symbol(series)

    def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        return self._rest(series).closed_pages(series, after, until=until)

    async def forming(self, series: SeriesId, open_time: int) -> Candle | None:
        return await self._rest(series).forming(series, open_time)

    async def warm(self, series: Iterable[SeriesId]) -> None:
        """Load the market lists of these series' venues and markets, so their ticks are
        known before anyone asks (a list that cannot be had is logged and retried later)."""
        for exchange, market in sorted({(s.exchange, s.instrument_market) for s in series}):
            venue = self._venues.get(exchange)
            if venue is not None:
                await venue.catalog.symbols(market)

    async def close(self) -> None:
        for venue in self._venues.values():
            for close in (venue.rest.close, *venue.closers):
                with contextlib.suppress(Exception):
                    await close()
