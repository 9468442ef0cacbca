"""Per-series locks shared by the writer and the fan-out.

A commit and its publish happen under the series' lock, and a subscribe reads its catchup
under the same lock, so a client never misses or doubles a candle committed around its
subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterable


class SeriesLocks:
    def __init__(self) -> None:
        # Held only while in use (a lock someone waits on or holds is referenced), so the
        # table does not grow with every series ever asked for.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, series_id: str) -> asyncio.Lock:
        lock = self._locks.get(series_id)
        if lock is None:
            lock = self._locks[series_id] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def hold(self, series_ids: Iterable[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as held:
            for series_id in sorted(set(series_ids)):  # one order everywhere: no deadlock
                await held.enter_async_context(self._lock(series_id))
            yield
