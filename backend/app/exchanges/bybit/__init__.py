"""Bybit v5: spot and USDT linear perpetuals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from app.clock import Clock
from app.config import Settings
from app.exchanges.bybit.settings import BybitSettings
from app.exchanges.bybit.spec import SPEC
from app.exchanges.definition import VenueDefinition

if TYPE_CHECKING:
    from app.exchanges.registry import Venue
    from app.exchanges.upstream import UpstreamMetrics


def _build(settings: Settings, metrics: UpstreamMetrics, clock: Clock) -> Venue:
    from app.exchanges.bybit.venue import bybit_venue

    return bybit_venue(settings, metrics, clock)


VENUE: Final = VenueDefinition(SPEC, BybitSettings, _build)
