"""How live ingest batches, waits and backs off: one set of timers for every venue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IngestOptions:
    batch_max: int = 500
    flush_s: float = 0.25
    stale_s: float = 30.0  # no frame for this long: the connection is dead
    close_grace_s: float = 3.0  # wait this long for a late close before asking REST
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    healthy_s: float = 30.0  # a connection this old resets the backoff
    backfill_max_candles: int = 1000  # the window a live series holds at least
    backfills_at_once: int = 4  # REST weight is limited too
    backfill_retry_max_s: float = 60.0  # a failed catch-up is retried, backing off to this
    max_clock_skew_s: float = 10.0  # how far the exchange's candles may run ahead of our clock
