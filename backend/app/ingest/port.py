"""What the hub needs of ingest: acquire and release a series per subscriber."""

from __future__ import annotations

from typing import Any, Protocol

from app.series import SeriesId


class IngestPort(Protocol):
    @property
    def running(self) -> bool: ...

    async def acquire(self, series: SeriesId) -> None:
        """A client subscribed to `series`. Raises `CapacityExceeded` when no job can run."""

    async def release(self, series: SeriesId) -> None:
        """A client unsubscribed from (or disconnected while subscribed to) `series`."""

    def job_error(self, series_id: str) -> tuple[str, str] | None:
        """(code, message) when live ingest of `series_id` has failed for good."""

    def live_series(self) -> list[str]: ...

    def snapshot(self) -> dict[str, Any]: ...
