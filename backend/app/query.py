"""CandleQuery: how every API reads a series' candles, the chart's and each
exchange-compatible facade's alike: admission (may this client have the series served and
its work started), history on demand (a datadir import or a download), then one window
read from the store."""

from __future__ import annotations

from app.admission import Admission
from app.history.source import HistorySource
from app.hub.forming import FormingCandle, FormingCandles
from app.series import SeriesId
from app.store import CandlePage, CandleStore


class CandleQuery:
    def __init__(
        self,
        store: CandleStore,
        admission: Admission,
        history: HistorySource | None,
        forming: FormingCandles,
    ) -> None:
        self._store = store
        self._admission = admission
        self._history = history
        self._forming = forming

    async def window(
        self,
        series: SeriesId,
        client: str,
        limit: int,
        *,
        since: int | None = None,
        before: int | None = None,
        newest: bool | None = None,
    ) -> CandlePage:
        """The closed candles after `since` and before `before` (exclusive, either
        optional), ascending: the oldest `limit` when `since` is given, else the newest
        (`newest` chooses when both are). Raises what admission raises."""
        await self._admission.admit(series, client)
        if self._history is not None:
            # Scrolling back (the newest before `before`) needs the whole file; a read
            # after `since`, or of the newest, is served once those candles are in.
            take_newest = since is None if newest is None else newest
            await self._history.ensure(
                series, since=since, complete=take_newest and before is not None
            )
        return await self._store.page(str(series), limit, since=since, before=before, newest=newest)

    def forming(self, series: SeriesId) -> FormingCandle | None:
        """The series' newest forming candle, as its live feed last sent it."""
        return self._forming.get(str(series))
