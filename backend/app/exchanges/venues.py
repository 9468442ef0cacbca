"""The venues this server serves, registered when the `app` package is imported (so before
any series id is parsed or any settings are read). A venue is a package
`app/exchanges/<name>/` whose `VENUE` is its `VenueDefinition`; serving one more is one more
name here."""

from __future__ import annotations

import importlib
from typing import Final

from app.exchanges.definition import VenueDefinition

VENUE_PACKAGES: Final = ("binance", "bybit", "okx")


def _definition(name: str) -> VenueDefinition:
    venue = getattr(importlib.import_module(f"app.exchanges.{name}"), "VENUE", None)
    if not isinstance(venue, VenueDefinition) or venue.name != name:
        raise TypeError(f"app.exchanges.{name}.VENUE is not the definition of venue {name}")
    venue.register()
    return venue


VENUES: Final = tuple(_definition(name) for name in VENUE_PACKAGES)
