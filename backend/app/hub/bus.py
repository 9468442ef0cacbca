"""Bus: how committed and forming candles travel from the writer to the fan-out.

In one process the fan-out is the bus (`Fanout` implements it); a bus across processes
(Redis) implements the same three calls and feeds each replica's fan-out. The calls never
wait: a bus that must do I/O queues and sends from its own task. `closed` is called only
after the candles are committed, under their series' lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.candle import Candle, CandleRow


class Bus(Protocol):
    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        """Committed closed candles of one series, in ascending time; `head_before` is the
        series' newest candle time before their commit (None: it was empty). A candle after
        it was appended, so a follower whose catchup reaches past it already has it."""

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        """The newest state of a candle still forming; never stored."""

    def error(self, series_id: str, code: str, message: str) -> None:
        """Something went wrong with a series its followers should know of."""


class NoBus:
    """For a process with no clients (the `import` command)."""

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        pass

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        pass

    def error(self, series_id: str, code: str, message: str) -> None:
        pass


class Buses:
    """One bus feeding several consumers in the process (the fan-out, the forming candles)."""

    def __init__(self, *consumers: Bus) -> None:
        self._consumers = consumers

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        for consumer in self._consumers:
            consumer.closed(series_id, candles, head_before)

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        for consumer in self._consumers:
            consumer.forming(series_id, candle, event_time_ms)

    def error(self, series_id: str, code: str, message: str) -> None:
        for consumer in self._consumers:
            consumer.error(series_id, code, message)
