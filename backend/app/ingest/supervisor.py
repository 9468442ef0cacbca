"""The ingest-supervisor interface the hub calls on subscribe and unsubscribe.

`RefcountingSupervisor` only counts subscribers per series; the live ingestor plugs in
behind the same interface without the hub changing.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.metrics import Metrics
from app.series import SeriesId


class IngestSupervisor(Protocol):
    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def acquire(self, series: SeriesId) -> None:
        """A client subscribed to `series`. Raises `CapacityExceeded` when no job can run."""

    async def release(self, series: SeriesId) -> None:
        """A client unsubscribed from (or disconnected while subscribed to) `series`."""

    def live_series(self) -> list[str]: ...

    def snapshot(self) -> dict[str, Any]: ...


class RefcountingSupervisor:
    def __init__(self, metrics: Metrics, *, whitelist: list[SeriesId], max_jobs: int) -> None:
        self._metrics = metrics
        self._whitelist = [str(s) for s in whitelist]
        self._max_jobs = max_jobs
        self._refcounts: dict[str, int] = {}
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False

    async def acquire(self, series: SeriesId) -> None:
        key = str(series)
        self._refcounts[key] = self._refcounts.get(key, 0) + 1
        self._metrics.ingest_subscriptions.set(len(self._refcounts))

    async def release(self, series: SeriesId) -> None:
        key = str(series)
        count = self._refcounts.get(key, 0) - 1
        if count > 0:
            self._refcounts[key] = count
        else:
            self._refcounts.pop(key, None)
        self._metrics.ingest_subscriptions.set(len(self._refcounts))

    def refcount(self, series_id: str) -> int:
        return self._refcounts.get(series_id, 0)

    def live_series(self) -> list[str]:
        return []

    def snapshot(self) -> dict[str, Any]:
        jobs = [
            {
                "series_id": sid,
                "kind": "whitelist",
                "refcount": self._refcounts.get(sid, 0),
                "state": "idle",
                "source": None,
                "head_time": None,
                "last_error": None,
            }
            for sid in self._whitelist
        ]
        jobs += [
            {
                "series_id": sid,
                "kind": "ondemand",
                "refcount": count,
                "state": "idle",
                "source": None,
                "head_time": None,
                "last_error": None,
            }
            for sid, count in sorted(self._refcounts.items())
            if sid not in self._whitelist
        ]
        active = sum(1 for j in jobs if j["kind"] == "ondemand")
        return {"jobs": jobs, "max_jobs": self._max_jobs, "active": active}
