"""CandleWriter: the one write path for closed candles, live and history alike.

Each call is one store transaction. Live commits are published on the bus after the commit
and under the series' lock (nothing reaches a client as closed before it is durable), and
only the candles the commit stored. History batches are published only where they extend
the stored head (a datadir file that grew): older history is paged over HTTP. The archive
(the datadir write-through) is told every candle any commit stored, history too, except a
datadir's own rows imported from it.

What the exchange says (stream, REST backfill) and what a datadir holds never rewrites a
stored candle: the first value stored for a time stays, and a different one offered later
comes back as a conflict. Only an operator's correction (`correct_closed`, the ingest API)
overwrites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.bus.ports import Bus
from app.candle import CandleRow, ExtrasByTime
from app.clock import Clock
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.store import CandleStore, ImportProgress, SeriesStats, UpsertResult

APPEND_PUBLISH_MAX = 1_000


class Archive(Protocol):
    """Where every stored candle is kept a second time (freqtrade's datadir)."""

    def stored(self, series_id: str, candles: Sequence[CandleRow]) -> None:
        """Candles of one series a commit stored, in ascending time; never waits."""


@dataclass(frozen=True, slots=True)
class BatchCommit:
    """What a batch's commit stored of each series, and how long it took: its transaction,
    then its publish."""

    results: dict[str, UpsertResult]
    db_s: float
    publish_s: float


class CandleWriter:
    def __init__(
        self,
        store: CandleStore,
        locks: SeriesLocks,
        bus: Bus,
        clock: Clock,
        metrics: Metrics | None = None,
        archive: Archive | None = None,
    ) -> None:
        """`metrics`: where each write's transaction time is told (timed here only)."""
        self._store = store
        self._locks = locks
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._archive = archive

    def _archived(self, series_id: str, candles: Sequence[CandleRow]) -> None:
        if self._archive is not None and candles:
            self._archive.stored(series_id, candles)

    def _written(self, started: float) -> float:
        """The seconds since `started` that a store write took, told to the metrics."""
        took = self._clock.monotonic() - started
        if self._metrics is not None:
            self._metrics.db_write_seconds.observe(took)
        return took

    async def stats(self, series_id: str) -> SeriesStats | None:
        """What is stored of a series, as the writer's next commit finds it."""
        return await self._store.stats(series_id)

    async def correct_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        """Store `candles` over what is stored (an operator's correction), then publish
        what changed."""
        async with self._locks.hold([series_id]):
            started = self._clock.monotonic()
            result = await self._store.upsert_many(series_id, sorted(candles))
            self._written(started)
            if result.written:
                self._bus.closed(series_id, result.written, result.head_before)
            self._archived(series_id, result.written)
        if result.inserted or result.updated:
            await self._store.note_source(series_id, "ingest_api", "an operator's correction")
        return result

    async def commit_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        """`commit_closed_many` for one series."""
        if not candles:
            return await self._store.insert_many(series_id, candles)
        return (await self.commit_closed_many({series_id: candles})).results[series_id]

    async def commit_closed_many(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> BatchCommit:
        """Closed candles of many series, in any order (and their `extras`, where the venue
        gave them): one transaction, then a publish per series of the candles it stored, in
        ascending time (a held one is not rewritten: see `UpsertResult.conflicts`)."""
        # Sorted once, here: what the store writes comes back in the order given.
        ordered = {series_id: sorted(candles) for series_id, candles in batches.items()}
        async with self._locks.hold(ordered):
            started = self._clock.monotonic()
            results = await self._store.insert_batches(ordered, extras)
            db_s = self._written(started)
            published = self._clock.monotonic()
            for series_id, result in results.items():
                if result.written:
                    self._bus.closed(series_id, result.written, result.head_before)
                self._archived(series_id, result.written)
        return BatchCommit(results, db_s, self._clock.monotonic() - published)

    async def import_batch(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        progress: ImportProgress | None,
        extras: ExtrasByTime | None = None,
        *,
        from_archive: bool = False,
    ) -> UpsertResult:
        """A batch of history, with the import progress it completes, in one transaction;
        candles the store holds stay as they are. Candles it appends after the stored head
        (a datadir file that `download-data` extended) are published, so open charts
        follow the file; at most `APPEND_PUBLISH_MAX` of them, else only the newest (each
        follower then gets a `gap` and re-reads). Every candle stored goes to the archive,
        unless it came `from_archive` (a datadir file's rows)."""
        async with self._locks.hold([series_id]):
            started = self._clock.monotonic()
            result = await self._store.insert_many(
                series_id, sorted(candles), progress=progress, extras=extras
            )
            self._written(started)
            head = result.head_before
            appended = [c for c in result.written if head is None or c[0] > head]
            if len(appended) > APPEND_PUBLISH_MAX:
                appended = appended[-1:]
            if appended:
                self._bus.closed(series_id, appended, head)
            if not from_archive:
                self._archived(series_id, result.written)
            return result
