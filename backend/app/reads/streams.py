"""KlineStreams: what the facades' kline streams follow. A client following a series holds
it live as a WebSocket subscriber does (it may be refused: capacity) and is handed its
candles from the bus as a venue's kline stream sends them: the forming candle, and the
closes once committed, each once and in order. Closes older than the client (a backfill of
the past) are history, which a venue's stream never sends: clients read it over REST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.admission import Admission
from app.candle import Candle
from app.clock import Clock
from app.hub.taps import Deliver, Taps
from app.series import SeriesId, align_time, timeframe_seconds
from app.supply.ports import SeriesSupply


class KlineStreams:
    def __init__(
        self, taps: Taps, supply: SeriesSupply, admission: Admission, clock: Clock
    ) -> None:
        self._taps = taps
        self._supply = supply
        self._admission = admission
        self._clock = clock

    async def follow(
        self, series: SeriesId, client: str, deliver: Deliver
    ) -> Callable[[], Awaitable[None]]:
        """Start handing `deliver` the series' candles; returns what stops it. Raises what
        admission raises, or `CapacityExceeded`."""
        await self._admission.admit(series, client)
        await self._supply.acquire(series, client)
        step = timeframe_seconds(series.timeframe)
        # Closes before the candle forming when the client came are history to it.
        newest_closed = align_time(int(self._clock.time()), series.timeframe) - 2 * step
        newest_forming = -1

        def news(candle: Candle, closed: bool) -> None:
            nonlocal newest_forming, newest_closed
            t = candle.candle_time
            if t <= newest_closed or (not closed and t < newest_forming):
                return
            if closed:
                newest_closed = t
            else:
                newest_forming = t
            deliver(candle, closed)

        stop_listening = self._taps.listen(str(series), news)

        async def stop() -> None:
            stop_listening()
            await self._supply.release(series, client)

        return stop
