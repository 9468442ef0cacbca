"""LeaderMarkets: the venues' market lists in a cluster. Only the leader asks the venues
for them (the one process calling the exchanges keeps each venue's rate budget one budget);
any other process asks the leader for its cached list over the bus."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from app.bus.redis.asks import Handler, LeaderAsk
from app.clock import Clock
from app.errors import BusError, ExchangeError
from app.exchanges.catalog import CachedCatalog, LoadMarkets
from app.exchanges.ports import SymbolInfo
from app.exchanges.registry import Venue, VenueRegistry
from app.series import Market


class LeaderMarkets:
    def __init__(self, ask: LeaderAsk, leading: Callable[[], bool], *, timeout_s: float) -> None:
        self._ask = ask
        self._leading = leading
        self._timeout_s = timeout_s
        self._venues: VenueRegistry | None = None

    def over(self, venues: VenueRegistry, clock: Clock) -> VenueRegistry:
        """`venues`, their catalogs loaded through the leader."""
        self._venues = VenueRegistry(
            [
                dataclasses.replace(v, catalog=CachedCatalog(v.name, self._loader(v), clock))
                for v in venues.values()
            ]
        )
        return self._venues

    def _loader(self, venue: Venue) -> LoadMarkets:
        async def load(market: Market, reload: bool) -> Mapping[str, SymbolInfo]:
            if self._leading():
                return await venue.rest.markets(market, reload)
            payload = {"v": venue.name, "m": market}
            try:
                answer = await self._ask("markets", payload, self._timeout_s)
            except BusError as e:
                raise ExchangeError(str(e)) from e  # retried as a venue that is down is
            symbols = answer["symbols"]
            if symbols is None:
                raise ExchangeError(f"the ingest leader has no {venue.name} {market} market list")
            return {
                pair: SymbolInfo(pair, str(name), tick, step)
                for pair, (name, tick, step) in symbols.items()
            }

        return load

    # -- the leader's side ------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        return {"markets": self._markets}

    async def _markets(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._venues is None:
            raise ExchangeError("this process is still starting")
        venue = self._venues[str(payload["v"])]
        market = payload["m"]
        if market not in venue.markets:
            raise ValueError(f"{venue.name} has no {market!r} market")
        symbols = await venue.catalog.symbols(market)
        if symbols is None:
            return {"symbols": None}
        return {
            "symbols": {
                pair: [i.exchange_symbol, i.price_tick, i.amount_step]
                for pair, i in symbols.items()
            }
        }
