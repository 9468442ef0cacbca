"""LiveSeries: one streamed series, and how far it is complete. The newest close alone
cannot say a series is complete (it may arrive after an older one was lost), so each
close is counted against the one before it, and what is missing is owed to REST."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.series import SeriesId, align_time

if TYPE_CHECKING:
    from app.ingest.live.connection import FeedConnection


@dataclass(eq=False)
class LiveSeries:
    series: SeriesId
    topic: str
    tf: int
    connection: FeedConnection | None = None
    head_time: int | None = None
    # Every closed candle up to this one is stored or buffered: the newest close alone
    # cannot say so, since it may have arrived with an older one lost before it.
    complete_through: int | None = None
    # Closes received past a hole, for moving `complete_through` once the hole is filled.
    closes_ahead: set[int] = field(default_factory=set)
    newest_seen: int | None = None  # open time of the newest kline on the stream
    catching_up: asyncio.Task[None] | None = None
    recheck: bool = False  # a hole was seen while a catch-up ran (it may predate it)
    backoff_s: float = 0.0  # the last wait after a failed catch-up (0 after a success)
    retry_at: float | None = None  # wall clock of the next try of a failed catch-up
    last_batch: dict[str, Any] | None = None
    last_error: str | None = None

    def complete(self, through: int) -> None:
        """Everything up to `through` is stored or buffered."""
        if self.complete_through is None or through > self.complete_through:
            self.complete_through = through
        if self.closes_ahead:  # empty for every close of a healthy stream
            while self.complete_through + self.tf in self.closes_ahead:
                self.complete_through += self.tf
            self.closes_ahead = {t for t in self.closes_ahead if t > self.complete_through}

    def closed_seen(self, t: int) -> None:
        if self.complete_through is None or t == self.complete_through + self.tf:
            self.complete(t)
        elif t > self.complete_through:
            self.closes_ahead.add(t)

    def has_hole(self) -> bool:
        """A candle before the newest on the stream is neither stored nor buffered."""
        if self.newest_seen is None:
            return False
        if self.complete_through is None:
            return True
        return self.newest_seen - self.tf > self.complete_through or bool(self.closes_ahead)

    def lost(self, times: set[int]) -> None:
        """Closes counted as buffered were not stored after all (a failed commit)."""
        if self.complete_through is not None and self.complete_through >= min(times):
            self.complete_through = min(times) - self.tf
        self.closes_ahead -= times

    def owed(self, now: float) -> dict[str, int] | None:
        """The closed candles (by `now`) still neither stored nor buffered, or None."""
        timeframe = self.series.timeframe
        latest = align_time(align_time(int(now), timeframe) - 1, timeframe)
        if self.complete_through is None or self.complete_through >= latest:
            return None
        first = self.complete_through + self.tf
        missing = (latest - first) // self.tf + 1 - sum(1 for t in self.closes_ahead if t <= latest)
        return {"from": first, "through": latest, "candles": missing}
