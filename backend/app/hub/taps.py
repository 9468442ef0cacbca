"""Taps: the bus's candles handed to in-process listeners by series, for the facades' kline
streams (a venue-shaped WebSocket per client, fed by this server's own live feed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from app.candle import Candle, CandleRow

# (candle, closed): closed candles only once committed, as everywhere else.
Deliver = Callable[[Candle, bool], None]


class Taps:
    """A `Bus` consumer: each candle of a series goes to every listener of it."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Deliver]] = {}

    def listen(self, series_id: str, deliver: Deliver) -> Callable[[], None]:
        """Hand `deliver` the series' candles from now on; returns what stops it."""
        self._listeners.setdefault(series_id, []).append(deliver)

        def stop() -> None:
            listeners = self._listeners.get(series_id, [])
            if deliver in listeners:
                listeners.remove(deliver)
            if not listeners:
                self._listeners.pop(series_id, None)

        return stop

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        listeners = self._listeners.get(series_id)
        if not listeners:
            return
        closes = [Candle(*c) for c in candles]  # once, whatever the number of listeners
        for deliver in listeners:
            for candle in closes:
                deliver(candle, True)

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        for deliver in self._listeners.get(series_id, ()):
            deliver(candle, False)

    def error(self, series_id: str, code: str, message: str) -> None:
        pass
