"""Binance spot and USDT-M futures: frame parser, REST klines (ccxt) and market catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from app.clock import Clock
from app.config import Settings
from app.exchanges.binance.settings import BinanceSettings
from app.exchanges.binance.spec import SPEC
from app.exchanges.definition import VenueDefinition

if TYPE_CHECKING:
    from app.exchanges.registry import Venue
    from app.exchanges.upstream import UpstreamMetrics


def _build(settings: Settings, metrics: UpstreamMetrics, clock: Clock) -> Venue:
    from app.exchanges.binance.venue import binance_venue

    return binance_venue(settings, metrics, clock)


VENUE: Final = VenueDefinition(SPEC, BinanceSettings, _build)
