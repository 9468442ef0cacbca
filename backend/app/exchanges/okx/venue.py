"""OKX (spot and USDT-margined perpetual swaps, as freqtrade's `futures`) from the settings."""

from __future__ import annotations

from starlette.types import ASGIApp

from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.facade_support import SymbolNames
from app.exchanges.okx import limits
from app.exchanges.okx.facade import OkxFacade
from app.exchanges.okx.feed import OkxFeed
from app.exchanges.okx.limits import OkxRatePolicy
from app.exchanges.okx.rest import FETCHED, okx_api_urls, okx_rest
from app.exchanges.okx.settings import OkxSettings
from app.exchanges.ports import FacadeContext, MarketCatalog
from app.exchanges.registry import Venue
from app.exchanges.upstream import UpstreamMetrics, venue_upstream
from app.series import Market


def okx_venue(settings: Settings, metrics: UpstreamMetrics, clock: Clock = SYSTEM_CLOCK) -> Venue:
    s = settings.venue(OkxSettings)
    urls = okx_api_urls(s.rest_url)
    limiter, proxy = venue_upstream(
        "okx", OkxRatePolicy(), limits.pools(s.rest_limit_share), limits.cost_of, settings,
        clock, metrics,
    )  # fmt: skip
    hosts: dict[Market, str] = {"spot": s.rest_url, "futures": s.rest_url}
    per_connection = s.ws_channels_per_connection

    def facade(context: FacadeContext, catalog: MarketCatalog) -> ASGIApp:
        return OkxFacade(context, proxy, SymbolNames(catalog, _pair_by_name), hosts)

    return Venue.of(
        "okx", okx_rest(urls, limiter, clock), {
            "spot": OkxFeed("spot", s.stream_url("spot"), per_connection),
            "futures": OkxFeed("futures", s.stream_url("futures"), per_connection),
            # A swap's mark and index price candles stream on the same business host.
            "mark": OkxFeed("mark", s.stream_url("futures"), per_connection),
            "index": OkxFeed("index", s.stream_url("futures"), per_connection),
        },
        api_urls=okx_api_urls, limiter=limiter,
        facade=facade, closers=(proxy.close,), ccxt_futures_type="swap", fetched=FETCHED,
    )  # fmt: skip


def _pair_by_name(market: Market, inst: str) -> str | None:
    """`BTC-USDT` → `BTC/USDT`, `BTC-USDT-SWAP` → `BTC/USDT:USDT` (when the list is away)."""
    parts = inst.split("-")
    if market == "spot" and len(parts) == 2 and all(parts):
        return f"{parts[0]}/{parts[1]}"
    if market == "futures" and len(parts) == 3 and parts[2] == "SWAP" and all(parts[:2]):
        return f"{parts[0]}/{parts[1]}:{parts[1]}"
    return None
