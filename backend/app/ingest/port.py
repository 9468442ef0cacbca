"""The two ways between hub and ingest: what the hub needs of ingest (acquire and release
a series per subscriber) and what ingest needs of the hub (commit closed candles, then
publish them; publish forming ones)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.candle import Candle, CandleRow, ExtrasByTime
from app.series import SeriesId
from app.store import UpsertResult


@dataclass(frozen=True, slots=True)
class BatchCommit:
    results: dict[str, UpsertResult]
    db_s: float
    publish_s: float


class CandleSink(Protocol):
    async def commit_closed_many(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> BatchCommit: ...

    def publish_forming(
        self, series_id: str, candle: Candle, event_time_ms: int | None = None
    ) -> None: ...


class IngestPort(Protocol):
    @property
    def running(self) -> bool: ...

    async def acquire(self, series: SeriesId, holder: str) -> None:
        """A client (`holder`: its address) subscribed to `series`. Raises
        `CapacityExceeded` when no job can run for it."""

    async def release(self, series: SeriesId, holder: str) -> None:
        """A client unsubscribed from (or disconnected while subscribed to) `series`."""

    def lease(self, series: SeriesId, holder: str) -> None:
        """`holder` asked for `series` just now: keep it live a while (never waits)."""

    def is_live(self, series_id: str) -> bool: ...

    def job_error(self, series_id: str) -> tuple[str, str] | None:
        """(code, message) when live ingest of `series_id` has failed for good."""

    def live_series(self) -> list[str]: ...

    def snapshot(self) -> dict[str, Any]: ...
