"""Binance (spot and USDT-M futures) as the core sees it, from the settings."""

from __future__ import annotations

from starlette.types import ASGIApp

from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.binance import limits, wire
from app.exchanges.binance.facade import BinanceFacade
from app.exchanges.binance.feed import BinanceFeed
from app.exchanges.binance.limits import BinanceRatePolicy
from app.exchanges.binance.rest import FETCHED, binance_api_urls, binance_rest
from app.exchanges.binance.settings import BinanceSettings
from app.exchanges.facade_support import SymbolNames
from app.exchanges.ports import FacadeContext, MarketCatalog
from app.exchanges.registry import Venue
from app.exchanges.upstream import UpstreamMetrics, venue_upstream
from app.series import Market


def binance_venue(
    settings: Settings, metrics: UpstreamMetrics, clock: Clock = SYSTEM_CLOCK
) -> Venue:
    b = settings.venue(BinanceSettings)
    urls = binance_api_urls(b.spot_rest_url, b.futures_rest_url)
    budget = b.rest_weight_budget_per_min
    limiter, proxy = venue_upstream(
        "binance", BinanceRatePolicy(budget), limits.pools(budget), limits.cost_of, settings,
        clock, metrics,
    )  # fmt: skip
    hosts: dict[Market, str] = {"spot": b.spot_rest_url, "futures": b.futures_rest_url}

    def facade(context: FacadeContext, catalog: MarketCatalog) -> ASGIApp:
        return BinanceFacade(context, proxy, SymbolNames(catalog, _pair_by_name), hosts)

    return Venue.of(
        "binance", binance_rest(urls, limiter, clock), {
            "spot": BinanceFeed("spot", b.spot_ws_url, b.ws_streams_per_connection,
                                b.ws_max_connection_age_s),
            "futures": BinanceFeed("futures", b.futures_ws_url, b.ws_streams_per_connection,
                                   b.ws_max_connection_age_s),
        },
        api_urls=_api_urls,
        limiter=limiter, facade=facade, closers=(proxy.close,), fetched=FETCHED,
    )  # fmt: skip


def _pair_by_name(market: Market, symbol: str) -> str | None:
    split = wire.split_symbol(symbol)
    if split is None:
        return None
    base, quote = split
    return f"{base}/{quote}" if market == "spot" else f"{base}/{quote}:{quote}"


def _api_urls(base: str) -> dict[str, str]:
    return {**binance_api_urls(base, base), "fapiPublicV2": f"{base.rstrip('/')}/fapi/v2"}
