"""The `IngestPort` half of a supply, handed on to whoever holds series for this process:
its own supervisor, or the cluster's demand."""

from __future__ import annotations

from typing import Any

from app.feeds import FeedStatus, IngestPort
from app.series import SeriesId


class HoldsThrough:
    def __init__(self, ingest: IngestPort) -> None:
        self._ingest = ingest

    @property
    def running(self) -> bool:
        return self._ingest.running

    async def acquire(self, series: SeriesId, holder: str) -> None:
        await self._ingest.acquire(series, holder)

    async def release(self, series: SeriesId, holder: str) -> None:
        await self._ingest.release(series, holder)

    def lease(self, series: SeriesId, holder: str) -> None:
        self._ingest.lease(series, holder)

    def is_live(self, series_id: str) -> bool:
        return self._ingest.is_live(series_id)

    def job_error(self, series_id: str) -> tuple[str, str] | None:
        return self._ingest.job_error(series_id)

    def live_series(self) -> list[str]:
        return self._ingest.live_series()

    def feed_status(self, series_id: str) -> FeedStatus | None:
        return self._ingest.feed_status(series_id)

    def failing_whitelist(self) -> dict[str, str]:
        return self._ingest.failing_whitelist()

    def clock_problems(self) -> list[str]:
        return self._ingest.clock_problems()

    def snapshot(self) -> dict[str, Any]:
        return self._ingest.snapshot()
