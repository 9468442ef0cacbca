"""ClosedBatches: closed klines from the stream, buffered and committed in batches (one
transaction per batch, then published by the sink), at most `flush_s` after the first
arrived or at once when `batch_max` are waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.candle import Candle, KlineExtras
from app.clock import Clock
from app.hub.writer import BatchCommit
from app.ingest.guard import KlineGuard
from app.ingest.live.completeness import LiveSeries
from app.ingest.live.options import IngestOptions
from app.ingest.metrics import IngestMetrics
from app.ingest.port import CandleSink
from app.store import Conflict
from app.tasks import spawn

log = logging.getLogger(__name__)


class ClosedBatches:
    def __init__(
        self,
        name: str,
        sink: CandleSink,
        guard: KlineGuard,
        metrics: IngestMetrics,
        options: IngestOptions,
        clock: Clock,
    ) -> None:
        self._sink = sink
        self._guard = guard
        self._metrics = metrics
        self._options = options
        self._clock = clock
        self._buffer: list[tuple[LiveSeries, Candle, KlineExtras | None]] = []
        self._buffered = asyncio.Event()
        self._full = asyncio.Event()
        self._flusher = spawn(self._flush_loop(), f"{name}-flush")

    def add(self, live: LiveSeries, candle: Candle, extras: KlineExtras | None) -> None:
        self._buffer.append((live, candle, extras))
        self._buffered.set()
        if len(self._buffer) >= self._options.batch_max:
            self._full.set()

    async def stop(self) -> None:
        """Commit what is buffered (a clean shutdown loses no closed candle)."""
        self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        await self._flush()

    async def _flush_loop(self) -> None:
        while True:
            await self._buffered.wait()
            await self._full_or(self._options.flush_s)
            await self._flush()

    async def _full_or(self, seconds: float) -> None:
        """Until the buffer is full or `seconds` have passed on the clock."""
        waits = [
            asyncio.ensure_future(self._full.wait()),
            asyncio.ensure_future(self._clock.sleep(seconds)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        self._buffered.clear()
        self._full.clear()
        if not buffer:
            return
        batches: dict[str, dict[int, Candle]] = {}
        extras: dict[str, dict[int, KlineExtras]] = {}
        lives: dict[str, LiveSeries] = {}
        for live, candle, said in buffer:
            key = str(live.series)
            # A second close of one candle in a batch does not replace the first.
            held = batches.setdefault(key, {}).setdefault(candle.candle_time, candle)
            if held != candle:
                self._guard.conflicts(key, [Conflict(candle.candle_time, held, candle)])
            elif said is not None:
                extras.setdefault(key, {}).setdefault(candle.candle_time, said)
            lives[key] = live
        try:
            commit = await self._sink.commit_closed_many(
                {k: list(v.values()) for k, v in batches.items()}, extras
            )
        except Exception:
            log.exception("committing %d closed candles failed; they will be backfilled",
                          len(buffer))  # fmt: skip
            for key, live in lives.items():
                # Not stored after all: the next frame finds the hole.
                live.lost(set(batches[key]))
            return
        self._metrics.batch_db_seconds.observe(commit.db_s)
        for key, result in commit.results.items():
            live = lives[key]
            live.head_time = result.head_time
            self._guard.conflicts(key, result.conflicts)
            rows = len(batches[key])
            self._metrics.rows_written.labels(key).inc(rows)
            delay = self._metrics.close_delay_seconds.labels(live.series.exchange,
                                                             live.series.market)  # fmt: skip
            committed = self._clock.time()
            for t in batches[key]:
                delay.observe(max(0.0, committed - (t + live.tf)))
            live.last_batch = {
                "rows": rows,
                "db_ms": round(commit.db_s * 1000, 2),
                "publish_ms": round(commit.publish_s * 1000, 2),
                "head_time": result.head_time,
                "at": self._clock.time(),
            }
        _log_batch(commit, {k: len(v) for k, v in batches.items()})


def _log_batch(commit: BatchCommit, rows: dict[str, int]) -> None:
    db_ms, publish_ms = commit.db_s * 1000, commit.publish_s * 1000
    if len(rows) <= 3:
        for key, n in rows.items():
            log.info(
                "batch %s rows=%d db_ms=%.2f publish_ms=%.2f head_time=%s",
                key, n, db_ms, publish_ms, commit.results[key].head_time,
            )  # fmt: skip
    else:
        log.info(
            "batch %d series rows=%d db_ms=%.2f publish_ms=%.2f",
            len(rows), sum(rows.values()), db_ms, publish_ms,
        )  # fmt: skip
