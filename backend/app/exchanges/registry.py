"""Which venues this server serves: the exchange part of a series id to what the core needs
of that venue. Built once by the composition root (`services.py`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from app.exchanges.ports import MarketCatalog
from app.series import Market


@dataclass(frozen=True, slots=True)
class Venue:
    name: str
    markets: tuple[Market, ...]
    timeframes: tuple[str, ...]
    catalog: MarketCatalog


class VenueRegistry(Mapping[str, Venue]):
    def __init__(self, venues: list[Venue]) -> None:
        self._venues = {v.name: v for v in venues}

    def __getitem__(self, name: str) -> Venue:
        return self._venues[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._venues)

    def __len__(self) -> int:
        return len(self._venues)
