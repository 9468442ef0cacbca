"""FormingCandles: the newest forming candle of every live series, kept where the bus
delivers it, so "the current candle" can be answered (the exchange-compatible facades end
their klines with it, as the venues do)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.candle import Candle, CandleRow


@dataclass(frozen=True, slots=True)
class FormingCandle:
    candle: Candle
    event_time_ms: int | None


class FormingCandles:
    """A `Bus` consumer: forming candles replace older ones of their series; a close of
    the candle (or a later one) retires it."""

    def __init__(self) -> None:
        self._latest: dict[str, FormingCandle] = {}

    def get(self, series_id: str) -> FormingCandle | None:
        return self._latest.get(series_id)

    def closed(self, series_id: str, candles: Sequence[CandleRow]) -> None:
        held = self._latest.get(series_id)
        # The next period's first update often arrives before the previous close is
        # committed: only a forming candle at or before the close is retired.
        if held is not None and candles and held.candle.candle_time <= candles[-1][0]:
            del self._latest[series_id]

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        held = self._latest.get(series_id)
        if held is None or candle.candle_time >= held.candle.candle_time:
            self._latest[series_id] = FormingCandle(candle, event_time_ms)

    def error(self, series_id: str, code: str, message: str) -> None:
        pass
