"""Subscriptions: what a client's subscribe and unsubscribe set in motion.

A new subscription holds the series (which may be refused: capacity), makes sure its
history is there, and then has the fan-out follow it; an unsubscribe or a disconnect gives
the series back. The hub and the supervisor never reference each other: this is where
they meet, through the `SeriesSupply`.
"""

from __future__ import annotations

from app.errors import TooManySubscriptions
from app.hub import messages
from app.hub.fanout import Fanout
from app.hub.session import ClientSession
from app.series import SeriesId, parse_series_id
from app.supply.ports import SeriesSupply


class Subscriptions:
    def __init__(
        self,
        fanout: Fanout,
        supply: SeriesSupply,
        *,
        max_per_client: int,
    ) -> None:
        self._fanout = fanout
        self._supply = supply
        self._max_per_client = max_per_client

    async def subscribe(self, session: ClientSession, series: SeriesId, since: int | None) -> None:
        """Subscribe (or re-subscribe, which resyncs) and queue the catchup.

        Raises `TooManySubscriptions` or the supervisor's `CapacityExceeded`; then nothing
        is queued for that series.
        """
        series_id = str(series)
        newly = not session.is_subscribed(series_id)
        if newly:
            if len(session.series_ids) >= self._max_per_client:
                raise TooManySubscriptions(
                    f"at most {self._max_per_client} subscriptions per connection"
                )
            await self._supply.acquire(series, session.address)
        try:
            await self._supply.ensure_history(series, since=since)
            await self._fanout.follow(session, series, since)
        except BaseException:
            if newly and not session.is_subscribed(series_id):
                await self._supply.release(series, session.address)
            raise
        problem = self._supply.job_error(series_id)
        if problem is not None:
            session.offer_control(messages.error(*problem, series_id))

    async def unsubscribe(self, session: ClientSession, series_id: str) -> bool:
        if not session.is_subscribed(series_id):
            return False
        self._fanout.unfollow(session, series_id)
        await self._supply.release(parse_series_id(series_id), session.address)
        return True

    async def disconnect(self, session: ClientSession) -> None:
        for series_id in session.series_ids:
            await self.unsubscribe(session, series_id)
