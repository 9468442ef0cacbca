"""Fanout: WebSocket clients, what each follows, and delivery into their bounded queues.

It is the in-process `Bus`: the writer's publishes land here. A follower is registered
under the series' lock with a catchup read from the store, so the stream it then receives
continues exactly after that catchup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from app.candle import Candle, CandleRow
from app.hub import messages
from app.hub.session import ClientSession, SlowConsumer
from app.locks import SeriesLocks
from app.series import SeriesId
from app.store import CandleStore


class Fanout:
    def __init__(self, store: CandleStore, locks: SeriesLocks, *, catchup_max: int) -> None:
        self._store = store
        self._locks = locks
        self._catchup_max = catchup_max
        self._followers: dict[str, set[ClientSession]] = {}

    def followed(self) -> list[str]:
        """The series at least one client follows."""
        return [k for k, sessions in self._followers.items() if sessions]

    def follower_count(self, series_id: str) -> int:
        return len(self._followers.get(series_id, ()))

    # -- the bus ----------------------------------------------------------------------

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        sessions = self._followers.get(series_id)
        if not sessions:
            return
        for candle in candles:
            text = messages.candle_closed(series_id, candle)
            for session in sessions:
                session.offer_closed(series_id, candle[0], text, head_before)
        for session in sessions:
            session.flush_gaps()

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        sessions = self._followers.get(series_id)
        if sessions:
            text = messages.candle_forming(series_id, candle, event_time_ms)
            for session in sessions:
                session.offer_forming(series_id, candle.candle_time, text)

    def error(self, series_id: str, code: str, message: str) -> None:
        text = messages.error(code, message, series_id)
        for session in list(self._followers.get(series_id, ())):
            with contextlib.suppress(SlowConsumer):
                session.offer_control(text)

    # -- followers --------------------------------------------------------------------

    async def follow(self, session: ClientSession, series: SeriesId, since: int | None) -> None:
        """Queue the catchup (everything after `since`, or only the head) and start the
        stream after it."""
        series_id = str(series)
        async with self._locks.hold([series_id]):
            if since is None:
                head, candles = await self._store.head_time(series_id), []
            else:
                page = await self._store.page(series_id, self._catchup_max + 1, since=since)
                head, candles = page.head_time, page.candles
            truncated = len(candles) > self._catchup_max
            candles = candles[: self._catchup_max]  # a copy: the store's page is shared
            # The stream continues after the store's head: the catchup (plus, when
            # truncated, the client's HTTP read) covers everything up to it.
            session.add_subscription(series_id, series.timeframe, head)
            self._followers.setdefault(series_id, set()).add(session)
            session.offer_catchup(series_id, messages.catchup(series_id, head, candles, truncated))

    def unfollow(self, session: ClientSession, series_id: str) -> None:
        session.remove_subscription(series_id)
        sessions = self._followers.get(series_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._followers[series_id]
