"""The bus within one process: the hub's fan-out and caches are its consumers, fed in
place (nothing to send, so nothing that can fail or wait)."""

from __future__ import annotations

from collections.abc import Sequence

from app.bus.ports import Bus
from app.candle import Candle, CandleRow


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
