"""DatadirWriteThrough: the datadir follows the store (`TRADE_CANVAS_DATADIR_WRITE=1`).

The writer's `Archive`: every candle a commit stored (live closes, history the venue filled,
holes healed) is buffered by series (the call only appends to a list, so the live path
pays nothing for it), and every `every_s` the buffered
candles are merged into their series' datadir files on a thread, one file at a time, spread
over half the interval.
The first write of a series in this process gives its file every stored candle it lacks
(all of them to a new file), so a datadir that lagged the store when the write-through was
turned on holds the whole stored range with no `export` step, and a backtest sees no hole
the store does not have. Each write merges with the file as it is then (a file
`download-data` changed meanwhile keeps what it gained) and replaces it with a rename
(`history.export`). Scratch files an interrupted write left are removed at start.

A write that fails is kept and retried; the series' status and `/ready` say why (each new
cause is logged once) until a write of it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import numpy as np
from prometheus_client import Counter

from app.candle import CandleRow
from app.clock import Clock
from app.history.datadir import Datadirs, DataFormat
from app.history.export import (
    ExportError,
    FileBusy,
    file_times,
    remove_scratch,
    write_candles,
)
from app.metrics import Metrics
from app.series import parse_series_id
from app.store import CandleStore
from app.tasks import spawn

log = logging.getLogger(__name__)

# Candles kept of a series between writes (beyond, the oldest go: the store still holds
# them, and the series' next write completes its file from the store).
MAX_BUFFERED = 100_000
# A file another program keeps writing this long is a failure to say (until then, a wait).
BUSY_FAILS_AFTER_S = 60.0
# Stored candles read at a time when a file is completed from the store.
STORE_PAGE = 100_000


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
        # Series whose file was given every stored candle it lacked (once per process).
        self._completed: set[str] = set()
        # Why a series' file cannot be written now, by series.
        self._failing: dict[str, str] = {}
        # Since when another program has kept a series' file busy (monotonic s).
        self._busy_since: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._writes = Counter(
            "trade_canvas_datadir_writes",
            "Datadir files written by the write-through, by result.",
            ["result"],
            registry=metrics.registry,
        )

    # -- the writer's archive ----------------------------------------------------------

    def stored(self, series_id: str, candles: Sequence[CandleRow]) -> None:
        buffered = self._buffer.setdefault(series_id, [])
        buffered.extend(candles)
        if len(buffered) > MAX_BUFFERED:
            del buffered[: len(buffered) - MAX_BUFFERED]
            self._completed.discard(series_id)  # what was dropped is written from the store

    # -- the writer -------------------------------------------------------------------

    def start(self) -> None:
        self._task = spawn(self._run(), "datadir write-through")

    async def stop(self) -> None:
        """Stop, writing what is buffered first."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    def failing(self, series_id: str) -> str | None:
        """Why the series' datadir file cannot be written now, if it cannot."""
        return self._failing.get(series_id)

    def problems(self) -> list[str]:
        """For `/ready`: the datadir files that cannot be written now."""
        if not self._failing:
            return []
        first = min(self._failing)
        more = f" and {len(self._failing) - 1} more" if len(self._failing) > 1 else ""
        return [
            f"datadir writes are failing for {len(self._failing)} series "
            f"({first}: {self._failing[first]}{more}); retried"
        ]

    async def _run(self) -> None:
        for name, folder in sorted(self._datadirs.all().items()):
            try:
                removed = await asyncio.to_thread(remove_scratch, folder)
            except ExportError as e:
                log.warning("cannot clear the %s datadir's scratch files: %s", name, e)
                continue
            if removed:
                log.info("removed %d scratch file(s) of interrupted writes in %s", removed, folder)
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
                lacking = [] if series_id in self._completed else await self._lacking(series_id)
                written = await asyncio.to_thread(
                    write_candles, folder, series, lacking + rows, self._format
                )
            except FileBusy as e:
                # freqtrade is writing it: written at a later flush, unless that lasts.
                self.stored(series_id, rows)
                busy_since = self._busy_since.setdefault(series_id, self._clock.monotonic())
                if self._clock.monotonic() - busy_since >= BUSY_FAILS_AFTER_S:
                    self._failed(series_id, f"{e} for over {BUSY_FAILS_AFTER_S:g} s")
                continue
            except ExportError as e:
                self._writes.labels("failed").inc()
                self._failed(series_id, str(e))
                self.stored(series_id, rows)  # after what arrived meanwhile: merged anyway
                continue
            self._busy_since.pop(series_id, None)
            self._completed.add(series_id)
            if self._failing.pop(series_id, None) is not None:
                log.warning("datadir write-through of %s works again", series_id)
            self._writes.labels("written" if written else "unchanged").inc()

    async def _lacking(self, series_id: str) -> list[CandleRow]:
        """The stored candles the series' file lacks (every one without a file)."""
        series = parse_series_id(series_id)
        folder = self._datadirs.of(series.exchange)
        held = await asyncio.to_thread(file_times, folder, series, self._format)
        lacking: list[CandleRow] = []
        since = -1
        while candles := (await self._store.page(series_id, STORE_PAGE, since=since)).candles:
            since = candles[-1][0]
            if held is None:
                lacking += candles
                continue
            times = np.fromiter((c[0] for c in candles), np.int64, len(candles))
            lacking += [c for c, there in zip(candles, np.isin(times, held), strict=True)
                        if not there]  # fmt: skip
        return lacking

    def _failed(self, series_id: str, why: str) -> None:
        # Its buffer may overflow before a write works again: then complete it from the store.
        self._completed.discard(series_id)
        if self._failing.get(series_id) != why:  # each cause of each series, once
            log.warning("datadir write-through of %s failed (kept, retried): %s", series_id, why)
        self._failing[series_id] = why
