"""OKX (spot and USDT-margined perpetual swaps, as freqtrade's `futures`) from the settings."""

from __future__ import annotations

from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.okx.feed import OkxFeed
from app.exchanges.okx.limits import OkxRatePolicy
from app.exchanges.okx.rest import URL, okx_api_urls, okx_rest
from app.exchanges.okx.settings import OkxSettings
from app.exchanges.registry import Venue
from app.exchanges.upstream import UpstreamLimiter, UpstreamMetrics


def okx_venue(settings: Settings, metrics: UpstreamMetrics, clock: Clock = SYSTEM_CLOCK) -> Venue:
    s = settings.venue(OkxSettings)
    urls = okx_api_urls(s.rest_url)
    limiter = UpstreamLimiter("okx", OkxRatePolicy(), clock, metrics)
    per_connection = s.ws_channels_per_connection
    return Venue.of(
        "okx", okx_rest(urls, limiter), {
            "spot": OkxFeed("spot", s.spot_ws_url, per_connection),
            "futures": OkxFeed("futures", s.swap_ws_url, per_connection),
        },
        custom_api_urls=None if urls == okx_api_urls(URL) else urls, limiter=limiter,
        ccxt_futures_type="swap",
    )  # fmt: skip
