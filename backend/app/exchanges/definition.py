"""What a venue's package gives the server: the facts a series id needs, its settings and
how its adapter is built. `exchanges/venues.py` registers each package's `VENUE`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.clock import Clock
from app.config import Settings, VenueSettings, register_venue_settings
from app.series import VenueFacts, register_venue

if TYPE_CHECKING:  # the adapters' imports wait until a server is built
    from app.exchanges.registry import Venue
    from app.exchanges.upstream import UpstreamMetrics

VenueBuilder = Callable[[Settings, "UpstreamMetrics", Clock], "Venue"]


@dataclass(frozen=True, slots=True)
class VenueDefinition:
    facts: VenueFacts
    settings: type[VenueSettings]
    build: VenueBuilder

    @property
    def name(self) -> str:
        return self.facts.name

    def register(self) -> None:
        if self.settings.venue != self.facts.name:
            raise ValueError(f"venue {self.facts.name}: its settings are {self.settings.venue}'s")
        register_venue(self.facts)
        register_venue_settings(self.settings)
