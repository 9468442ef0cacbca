"""Bybit (spot and USDT linear perpetuals, as freqtrade's `futures`) from the settings."""

from __future__ import annotations

from starlette.types import ASGIApp

from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.bybit import limits
from app.exchanges.bybit.facade import BybitFacade
from app.exchanges.bybit.feed import BybitFeed
from app.exchanges.bybit.limits import BybitRatePolicy
from app.exchanges.bybit.rest import FETCHED, bybit_api_urls, bybit_rest
from app.exchanges.bybit.settings import BybitSettings
from app.exchanges.facade_support import SymbolNames
from app.exchanges.ports import FacadeContext, MarketCatalog
from app.exchanges.registry import Venue
from app.exchanges.upstream import UpstreamMetrics, venue_upstream
from app.series import Market


def bybit_venue(settings: Settings, metrics: UpstreamMetrics, clock: Clock = SYSTEM_CLOCK) -> Venue:
    b = settings.venue(BybitSettings)
    urls = bybit_api_urls(b.rest_url)
    per_connection = b.ws_topics_per_connection
    limiter, proxy = venue_upstream(
        "bybit", BybitRatePolicy(), limits.pools(b.rest_requests_per_5s), limits.cost_of,
        settings, clock, metrics,
    )  # fmt: skip
    hosts: dict[Market, str] = {"spot": b.rest_url, "futures": b.rest_url}

    def facade(context: FacadeContext, catalog: MarketCatalog) -> ASGIApp:
        return BybitFacade(context, proxy, SymbolNames(catalog, _pair_by_name), hosts)

    return Venue.of(
        "bybit", bybit_rest(urls, limiter, clock), {
            "spot": BybitFeed("spot", b.spot_ws_url, per_connection),
            "futures": BybitFeed("futures", b.linear_ws_url, per_connection),
        },
        api_urls=bybit_api_urls, limiter=limiter,
        facade=facade, closers=(proxy.close,), fetched=FETCHED,
    )  # fmt: skip


def _pair_by_name(market: Market, symbol: str) -> str | None:
    for quote in ("USDT", "USDC", "BTC", "ETH", "EUR"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            base = symbol[: -len(quote)]
            return f"{base}/{quote}" if market == "spot" else f"{base}/{quote}:{quote}"
    return None
