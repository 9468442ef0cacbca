"""Binance (spot and USDT-M futures) as the core sees it, from the settings."""

from __future__ import annotations

from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.binance.feed import BinanceFeed
from app.exchanges.binance.rest import FUTURES_URL, SPOT_URL, binance_api_urls, binance_rest
from app.exchanges.registry import Venue


def binance_venue(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Venue:
    urls = binance_api_urls(settings.binance.spot_rest_url, settings.binance.futures_rest_url)
    per_connection = settings.binance.ws_streams_per_connection
    max_age_s = settings.binance.ws_max_connection_age_s
    spot_url, futures_url = settings.binance.spot_ws_url, settings.binance.futures_ws_url
    return Venue.of("binance", binance_rest(urls, clock=clock), {
        "spot": BinanceFeed("spot", spot_url, per_connection, max_age_s),
        "futures": BinanceFeed("futures", futures_url, per_connection, max_age_s),
    }, None if urls == binance_api_urls(SPOT_URL, FUTURES_URL) else urls)  # fmt: skip
