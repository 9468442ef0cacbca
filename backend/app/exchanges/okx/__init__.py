"""OKX v5: spot and USDT-margined perpetual swaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from app.clock import Clock
from app.config import Settings
from app.exchanges.definition import VenueDefinition
from app.exchanges.okx.settings import OkxSettings
from app.exchanges.okx.spec import SPEC

if TYPE_CHECKING:
    from app.exchanges.registry import Venue
    from app.exchanges.upstream import UpstreamMetrics


def _build(settings: Settings, metrics: UpstreamMetrics, clock: Clock) -> Venue:
    from app.exchanges.okx.venue import okx_venue

    return okx_venue(settings, metrics, clock)


VENUE: Final = VenueDefinition(SPEC, OkxSettings, _build)
