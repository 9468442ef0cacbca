"""LocalSupply: the writer side of this process: its ingest (a supervisor, or in a cluster
the cluster's demand), its history source, the venues and the writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.candle import Candle, CandleRow
from app.exchanges.ports import SymbolInfo
from app.exchanges.registry import VenueRegistry
from app.feeds import IngestPort
from app.history.source import HistorySource
from app.hub.writer import CandleWriter
from app.series import Market, SeriesId
from app.store import UpsertResult
from app.supply.fill import VenueFill
from app.supply.holds import HoldsThrough
from app.supply.ports import Fetched


class LocalSupply(HoldsThrough):
    def __init__(
        self,
        ingest: IngestPort,
        history: HistorySource | None,
        fill: VenueFill,
        venues: VenueRegistry,
        writer: CandleWriter,
    ) -> None:
        super().__init__(ingest)
        self._history = history
        self._fill = fill
        self._venues = venues
        self._writer = writer

    @property
    def has_history(self) -> bool:
        return self._history is not None

    async def ensure_history(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        if self._history is None:
            return True
        return await self._history.ensure(series, since=since, complete=complete, download=download)

    def history_states(self) -> dict[str, dict[str, Any]]:
        return {} if self._history is None else self._history.states()

    def history_state_of(self, series_id: str) -> dict[str, Any] | None:
        return None if self._history is None else self._history.state_of(series_id)

    async def fill(self, series: SeriesId, after: int, until: int) -> int | None:
        return await self._fill(series, after, until)

    async def fetch_unstored(
        self, series: SeriesId, after: int, until: int, *, limit: int, newest: bool
    ) -> Fetched:
        return await self._fill.unstored(series, after, until, limit=limit, newest=newest)

    async def fetch_forming(self, series: SeriesId, open_time: int) -> Candle | None:
        return await self._venues.forming(series, open_time)

    async def correct_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        return await self._writer.correct_closed(series_id, candles)

    async def markets(self, venue: str, market: Market) -> Mapping[str, SymbolInfo] | None:
        """A venue's market list as this process has it cached (loaded when first asked)."""
        listed = self._venues[venue]
        if market not in listed.markets:
            raise ValueError(f"{venue} has no {market!r} market")
        return await listed.catalog.symbols(market)
