"""FormingCandles: the newest forming candle of every live series, kept where the bus
delivers it, so "the current candle" can be answered (the exchange-compatible facades end
their klines with it, as the venues do); and how far each series' closes have been
committed, so a reader at a candle boundary can wait a moment for the close instead of
serving a window that ends one candle early."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from app.candle import Candle, CandleRow
from app.clock import Clock


@dataclass(frozen=True, slots=True)
class FormingCandle:
    candle: Candle
    event_time_ms: int | None


class FormingCandles:
    """A `Bus` consumer: forming candles replace older ones of their series; a close of
    the candle (or a later one) retires it."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._latest: dict[str, FormingCandle] = {}
        self._closed_through: dict[str, int] = {}
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}

    def get(self, series_id: str) -> FormingCandle | None:
        return self._latest.get(series_id)

    def closed_through(self, series_id: str) -> int | None:
        """The newest close of the series committed since this process started."""
        return self._closed_through.get(series_id)

    async def wait_closed(self, series_id: str, through: int, timeout_s: float) -> bool:
        """Wait at most `timeout_s` until the close of `through` is committed; whether it is."""
        if self._closed_through.get(series_id, through - 1) >= through:
            return True
        if timeout_s <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (through, waiter)
        self._waiters.setdefault(series_id, []).append(entry)
        timer = asyncio.ensure_future(self._clock.sleep(timeout_s))
        try:
            await asyncio.wait((waiter, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            waiting = self._waiters.get(series_id, [])
            with contextlib.suppress(ValueError):
                waiting.remove(entry)
            if not waiting:
                self._waiters.pop(series_id, None)
        return waiter.done()

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        if candles and candles[-1][0] > self._closed_through.get(series_id, candles[-1][0] - 1):
            self._closed_through[series_id] = through = candles[-1][0]
            for target, waiter in self._waiters.get(series_id, ()):
                if target <= through and not waiter.done():
                    waiter.set_result(None)
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
