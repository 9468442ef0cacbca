"""What live ingest needs of the writer (what is stored of a series; commit closed
candles, which the writer publishes) and of the bus (forming candles, never stored).
What others need of ingest is `app.feeds.IngestPort`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from app.candle import Candle, CandleRow, ExtrasByTime
from app.hub.writer import BatchCommit
from app.store import SeriesStats


class CandleSink(Protocol):
    async def stats(self, series_id: str) -> SeriesStats | None:
        """What is stored of a series (None: nothing)."""

    async def commit_closed_many(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> BatchCommit: ...


class FormingOut(Protocol):
    """Where forming candles go: straight to the bus (any `Bus` is one)."""

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None: ...
