"""Bybit (spot and USDT linear perpetuals, as freqtrade's `futures`) from the settings."""

from __future__ import annotations

from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.bybit.feed import BybitFeed
from app.exchanges.bybit.rest import URL, bybit_api_urls, bybit_rest
from app.exchanges.registry import Venue


def bybit_venue(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Venue:
    urls = bybit_api_urls(settings.bybit.rest_url)
    per_connection = settings.bybit.ws_topics_per_connection
    return Venue.of("bybit", bybit_rest(urls, clock=clock), {
        "spot": BybitFeed("spot", settings.bybit.spot_ws_url, per_connection),
        "futures": BybitFeed("futures", settings.bybit.linear_ws_url, per_connection),
    }, None if urls == bybit_api_urls(URL) else urls)  # fmt: skip
