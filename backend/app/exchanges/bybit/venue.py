"""Bybit (spot and USDT linear perpetuals, as freqtrade's `futures`) from the settings."""

from __future__ import annotations

from app.config import Settings
from app.exchanges.bybit.feed import BybitFeed
from app.exchanges.bybit.rest import bybit_rest
from app.exchanges.catalog import CachedCatalog
from app.exchanges.registry import Venue
from app.series import EXCHANGE_TIMEFRAMES


def bybit_venue(settings: Settings) -> Venue:
    rest = bybit_rest(url=settings.bybit_rest_url)
    per_connection = settings.bybit_ws_topics_per_connection
    return Venue(
        "bybit",
        ("spot", "futures"),
        EXCHANGE_TIMEFRAMES["bybit"],
        CachedCatalog("bybit", rest.markets),
        rest,
        {
            "spot": BybitFeed("spot", settings.bybit_spot_ws_url, per_connection),
            "futures": BybitFeed("futures", settings.bybit_linear_ws_url, per_connection),
        },
    )
