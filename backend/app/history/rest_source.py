"""The `ccxt` history source: pages the exchange's REST klines into the store instead of
reading a datadir. Per series one job at a time; it fetches from the store's head (or
`days` back when the store is empty) up to the newest closed candle."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

from app.clock import SYSTEM_CLOCK, Clock
from app.errors import ExchangeError
from app.exchanges.budget import HISTORY, on_behalf_of
from app.exchanges.ports import KlinePages
from app.history.source import HistoryWriter
from app.series import SeriesId, align_time
from app.store import CandleStore
from app.tasks import KeyedTasks

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _RestState:
    running: bool = False
    status: str = "checking"
    rows_imported: int = 0
    last_error: str | None = None
    checked_at: float = -math.inf  # never (a clock's monotonic seconds may start at 0)


class RestHistorySource:
    def __init__(
        self,
        store: CandleStore,
        writer: HistoryWriter,
        rest: KlinePages,
        *,
        days: float,
        wait_s: float,
        recheck_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store = store
        self._writer = writer
        self._rest = rest
        self._days = days
        self._wait_s = wait_s
        self._recheck_s = recheck_s
        self._series: dict[str, _RestState] = {}
        self._clock = clock
        self._jobs: KeyedTasks[str, None] = KeyedTasks("rest-history")

    async def ensure(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        """Page the venue's history into the store (`download`: wait for it, at most
        `wait_s`; else it goes on in the background) and say whether it is done."""
        key = str(series)
        state = self._series.setdefault(key, _RestState())
        job = self._jobs.get(key)
        if job is None:
            if self._clock.monotonic() - state.checked_at < self._recheck_s:
                return True
            state.checked_at = self._clock.monotonic()
            job = self._jobs.start(key, self._run(series, state))
        if not download:
            return job.done()
        try:
            async with asyncio.timeout(self._wait_s):
                await asyncio.shield(job)
        except TimeoutError:
            log.info("%s is asked for before its REST history is complete", key)
            return False
        return True

    async def _run(self, series: SeriesId, state: _RestState) -> None:
        key = str(series)
        state.running, state.status = True, "importing"
        try:
            with on_behalf_of(HISTORY):  # within history's share of the venue's budget
                await self._page(series, key, state)
        except ExchangeError as e:
            log.warning("REST history of %s failed: %s", key, e)
            state.status, state.last_error = "failed", str(e)
        finally:
            state.running = False

    async def _page(self, series: SeriesId, key: str, state: _RestState) -> None:
        head = await self._store.head_time(key)
        if head is None:
            head = align_time(int(self._clock.time() - self._days * 86_400), series.timeframe)
        async for page in self._rest.closed_pages(series, head):
            await self._writer.import_batch(key, page.candles, None, page.extras)
            state.rows_imported += len(page.candles)
        state.status, state.last_error = "imported", None

    def states(self) -> dict[str, dict[str, Any]]:
        return {k: self._as_dict(s) for k, s in sorted(self._series.items())}

    def state_of(self, series_id: str) -> dict[str, Any] | None:
        state = self._series.get(series_id)
        return self._as_dict(state) if state is not None else None

    @staticmethod
    def _as_dict(state: _RestState) -> dict[str, Any]:
        return {
            "status": state.status,
            "rows_imported": state.rows_imported,
            "last_error": state.last_error,
        }

    async def stop(self) -> None:
        await self._jobs.cancel_all()
