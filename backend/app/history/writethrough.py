"""DatadirWriteThrough: the datadir follows the store (`TRADE_CANVAS_DATADIR_WRITE=1`).

A `Bus` consumer: every committed closed candle is buffered by series (the bus call only
appends to a list, so the live path pays nothing for it), and every `every_s` the buffered
candles are merged into their series' datadir files on a thread, one file at a time, spread
over half the interval.
A series without a file gets everything the store holds, so a backtest sees its whole
history. Each write merges with the file as it is then (a file `download-data` changed
meanwhile keeps what it gained) and replaces it with a rename (`history.export`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from prometheus_client import Counter

from app.candle import Candle, CandleRow
from app.clock import Clock
from app.history.datadir import Datadirs, DataFormat, series_files
from app.history.export import ExportError, stored_rows, write_candles
from app.metrics import Metrics
from app.series import parse_series_id
from app.store import CandleStore
from app.tasks import spawn

log = logging.getLogger(__name__)

# Candles kept for a series whose file cannot be written now (beyond, the oldest go: the
# store still holds them, and `trade-canvas export` writes them).
MAX_BUFFERED = 100_000


class DatadirWriteThrough:
    def __init__(
        self,
        store: CandleStore,
        datadirs: Datadirs,
        data_format: DataFormat,
        metrics: Metrics,
        clock: Clock,
        every_s: float,
    ) -> None:
        self._store = store
        self._datadirs = datadirs
        self._format = data_format
        self._clock = clock
        self._every_s = every_s
        self._buffer: dict[str, list[CandleRow]] = {}
        self._failing: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._writes = Counter(
            "trade_canvas_datadir_writes",
            "Datadir files written by the write-through, by result.",
            ["result"],
            registry=metrics.registry,
        )

    # -- the bus ----------------------------------------------------------------------

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        buffered = self._buffer.setdefault(series_id, [])
        buffered.extend(candles)
        if len(buffered) > MAX_BUFFERED:
            del buffered[: len(buffered) - MAX_BUFFERED]

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        pass

    def error(self, series_id: str, code: str, message: str) -> None:
        pass

    # -- the writer -------------------------------------------------------------------

    def start(self) -> None:
        self._task = spawn(self._run(), "datadir write-through")

    async def stop(self) -> None:
        """Stop, writing what is buffered first."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._every_s)
            try:
                await self.flush(spread_s=self._every_s / 2)
            except Exception:  # one bad moment must not end the write-through
                log.exception("datadir write-through failed")

    async def flush(self, spread_s: float = 0.0) -> None:
        """Write what is buffered; `spread_s`: spread the files over that long, so a
        thousand series do not take the GIL from the live path in one burst."""
        pending, self._buffer = self._buffer, {}
        gap = spread_s / len(pending) if pending else 0.0
        for i, (series_id, rows) in enumerate(pending.items()):
            if i and gap:
                await self._clock.sleep(gap)
            series = parse_series_id(series_id)
            folder = self._datadirs.of(series.exchange)
            try:
                if not await asyncio.to_thread(series_files, folder, series, self._format):
                    rows = await stored_rows(self._store, series_id) + rows
                written = await asyncio.to_thread(write_candles, folder, series, rows, self._format)
            except ExportError as e:
                self._writes.labels("failed").inc()
                if series_id not in self._failing:
                    self._failing.add(series_id)
                    log.warning("datadir write-through of %s failed (kept, retried): %s",
                                series_id, e)  # fmt: skip
                self.closed(series_id, rows, None)  # after what arrived meanwhile: merged anyway
                continue
            if series_id in self._failing:
                self._failing.discard(series_id)
                log.info("datadir write-through of %s works again", series_id)
            self._writes.labels("written" if written else "unchanged").inc()
