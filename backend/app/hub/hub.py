"""MarketHub: the one path from a writer to WebSocket clients.

Closed candles enter only through `commit_closed`, which writes them to the store and
publishes them after the commit, under a per-series lock. Subscribe reads its catchup under
the same lock, so a client never misses or doubles a candle committed around its subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Mapping, Sequence

from app.candle import Candle, CandleRow
from app.errors import TooManySubscriptions
from app.history.source import HistorySource
from app.hub import messages
from app.hub.session import ClientSession, SlowConsumer
from app.ingest.port import BatchCommit, IngestPort
from app.series import SeriesId, parse_series_id
from app.store import CandleStore, UpsertResult


class MarketHub:
    def __init__(
        self,
        store: CandleStore,
        history: HistorySource | None,
        *,
        catchup_max: int,
        max_subscriptions: int,
    ) -> None:
        self._store = store
        self._supervisor: IngestPort | None = None
        self._history = history
        self._catchup_max = catchup_max
        self._max_subscriptions = max_subscriptions
        self._subscribers: dict[str, set[ClientSession]] = {}
        # Held only while in use (a lock someone waits on or holds is referenced), so the
        # table does not grow with every series ever asked for.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def use_supervisor(self, supervisor: IngestPort) -> None:
        """Plug in ingest. Separate from the constructor because ingest publishes through
        this hub: the hub exists first, then the supervisor built on it."""
        self._supervisor = supervisor

    @property
    def supervisor(self) -> IngestPort:
        if self._supervisor is None:
            raise RuntimeError("MarketHub has no ingest supervisor yet")
        return self._supervisor

    def _lock(self, series_id: str) -> asyncio.Lock:
        lock = self._locks.get(series_id)
        if lock is None:
            lock = self._locks[series_id] = asyncio.Lock()
        return lock

    def subscriber_count(self, series_id: str) -> int:
        return len(self._subscribers.get(series_id, ()))

    # -- writers ----------------------------------------------------------------------

    async def commit_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        """Store closed candles (one transaction) and only then broadcast them."""
        if not candles:
            return await self._store.upsert_many(series_id, candles)
        return (await self.commit_closed_many({series_id: candles})).results[series_id]

    async def commit_closed_many(self, batches: Mapping[str, Sequence[CandleRow]]) -> BatchCommit:
        """Closed candles of many series: one transaction, then a broadcast per series."""
        async with contextlib.AsyncExitStack() as locks:
            for series_id in sorted(batches):  # one order everywhere: no deadlock
                await locks.enter_async_context(self._lock(series_id))
            started = time.perf_counter()
            results = await self._store.upsert_batches(batches)
            committed = time.perf_counter()
            for series_id, result in results.items():
                sessions = self._subscribers.get(series_id)
                if not sessions or not (result.inserted or result.updated):
                    continue
                for candle in sorted(batches[series_id]):
                    text = messages.candle_closed(series_id, candle)
                    for session in sessions:
                        session.offer_closed(series_id, candle[0], text)
                for session in sessions:
                    session.flush_gaps()
        return BatchCommit(results, committed - started, time.perf_counter() - committed)

    def notify_error(self, series_id: str, code: str, message: str) -> None:
        """Tell every subscriber of `series_id` something went wrong with it."""
        text = messages.error(code, message, series_id)
        for session in list(self._subscribers.get(series_id, ())):
            with contextlib.suppress(SlowConsumer):
                session.offer_control(text)

    def publish_forming(
        self, series_id: str, candle: Candle, event_time_ms: int | None = None
    ) -> None:
        sessions = self._subscribers.get(series_id)
        if sessions:
            text = messages.candle_forming(series_id, candle, event_time_ms)
            for session in sessions:
                session.offer_forming(series_id, candle.candle_time, text)

    # -- clients ----------------------------------------------------------------------

    async def subscribe(self, session: ClientSession, series: SeriesId, since: int | None) -> None:
        """Subscribe (or re-subscribe, which resyncs) and queue the catchup.

        Raises `TooManySubscriptions` or the supervisor's `CapacityExceeded`; then nothing
        is queued for that series.
        """
        series_id = str(series)
        newly = not session.is_subscribed(series_id)
        if newly:
            if len(session.series_ids) >= self._max_subscriptions:
                raise TooManySubscriptions(
                    f"at most {self._max_subscriptions} subscriptions per connection"
                )
            await self.supervisor.acquire(series)
        try:
            if self._history is not None:
                await self._history.ensure(series, since=since)
            await self._register(session, series, since)
        except BaseException:
            if newly and not session.is_subscribed(series_id):
                await self.supervisor.release(series)
            raise

    async def _register(self, session: ClientSession, series: SeriesId, since: int | None) -> None:
        series_id = str(series)
        async with self._lock(series_id):
            if since is None:
                head, candles = await self._store.head_time(series_id), []
            else:
                page = await self._store.page(series_id, self._catchup_max + 1, since=since)
                head, candles = page.head_time, page.candles
            truncated = len(candles) > self._catchup_max
            del candles[self._catchup_max :]
            # The stream continues after the store's head: the catchup (plus, when
            # truncated, the client's HTTP read) covers everything up to it.
            session.add_subscription(series_id, series.timeframe, head)
            self._subscribers.setdefault(series_id, set()).add(session)
            session.offer_catchup(series_id, messages.catchup(series_id, head, candles, truncated))
            problem = self.supervisor.job_error(series_id)
            if problem is not None:
                session.offer_control(messages.error(*problem, series_id))

    async def unsubscribe(self, session: ClientSession, series_id: str) -> bool:
        if not session.is_subscribed(series_id):
            return False
        session.remove_subscription(series_id)
        sessions = self._subscribers.get(series_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._subscribers[series_id]
        await self.supervisor.release(parse_series_id(series_id))
        return True

    async def disconnect(self, session: ClientSession) -> None:
        for series_id in session.series_ids:
            await self.unsubscribe(session, series_id)
