"""What the rest of the server knows of live ingest, wherever it runs (this process's
supervisor, or a cluster's leader through the bus): series held live per holder, and each
feed's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from app.series import SeriesId


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Where the live feed of one series stands."""

    # The ingest job's state: starting, bootstrapping, subscribing, live, retrying,
    # failed (for good: the exchange does not list it), history-only (live ingest off).
    state: str
    kind: str  # whitelist or ondemand
    connected: bool  # its connection to the venue is open now
    error: str | None  # why it is not live, or why its connection is down
    backfill_error: str | None = None  # a REST catch-up that fails (and is retried)
    # This server's clock disagrees with the venue's: its candles are rejected.
    clock_error: str | None = None

    @property
    def failing(self) -> bool:
        """Retrying, live on a connection that is down after an error (a planned
        reconnect, or one still opening for the first time, is not a failure), or live
        while its candles are rejected for this server's clock."""
        return (
            self.state in ("retrying", "failed")
            or (self.state == "live" and not self.connected and self.error is not None)
            or self.clock_error is not None
        )


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

    def feed_status(self, series_id: str) -> FeedStatus | None:
        """None when no ingest job runs for `series_id`."""

    def failing_whitelist(self) -> dict[str, str]: ...

    def clock_problems(self) -> list[str]:
        """Where this server's clock disagrees with a followed venue's."""

    def snapshot(self) -> dict[str, Any]: ...
