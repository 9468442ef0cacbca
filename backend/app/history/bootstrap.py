"""HistoryBootstrapper: puts a series' datadir history into the store before it is served.

One job per series at a time; concurrent callers share it. A job finds the series' file
(running `freqtrade download-data` first when there is none, or too little), reads it, and
imports what the store lacks: everything when the store is empty, else only candles newer
than its head or older than its first. Batches
go newest first, so the candles a chart asks for first are committed first and the caller
is released while the rest keeps importing.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from prometheus_client import Counter

from app.bounded import forget_oldest_idle
from app.candle import CandleRow
from app.clock import SYSTEM_CLOCK, Clock
from app.errors import InvalidSeriesId, StoreError
from app.history.datadir import DatadirFile, Datadirs, DataFormat, series_files
from app.history.download import DownloadManager
from app.history.reader import HistoryFileError, OhlcvData, read_ohlcv
from app.history.source import HistoryWriter
from app.metrics import Metrics
from app.series import SeriesId, align_time, parse_series_id
from app.store import CandleStore, ImportProgress
from app.tasks import KeyedTasks

log = logging.getLogger(__name__)

Status = Literal["checking", "downloading", "importing", "imported", "missing", "failed"]
Signature = tuple[str, int, int]
# Backoff of an import whose store writes failed (a full disk is freed by a person).
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 300.0
# Series whose history state is remembered; beyond, the oldest idle ones are forgotten.
MAX_TRACKED: Final = 4_096


class HistoryMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.rows_imported = Counter(
            "trade_canvas_history_rows_imported", "Candles imported from the datadir.",
            registry=r,
        )  # fmt: skip
        self.bad_files = Counter(
            "trade_canvas_history_bad_files",
            "Datadir files that could not be read, by reason.",
            ["reason"],
            registry=r,
        )
        self.rows_dropped = Counter(
            "trade_canvas_history_rows_cleaned",
            "Datadir rows dropped, merged or floored while cleaning, by rule.",
            ["rule"],
            registry=r,
        )


@dataclass(slots=True)
class SeriesHistory:
    """What the bootstrapper knows of one series; shown in listings and debug state."""

    status: Status = "checking"
    running: bool = False
    file: str | None = None
    format: DataFormat | None = None
    rows_in_file: int = 0
    rows_imported: int = 0
    covered_from: int | None = None  # every file candle at or after this is in the store
    cleaned: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    # The (path, size, mtime) of every candidate file when last looked at, and of files
    # that failed to read: an unchanged datadir is neither re-read nor re-reported.
    signature: tuple[Signature, ...] | None = None
    bad_files: set[Signature] = field(default_factory=set)
    checked_at: float = -math.inf  # never (a clock's monotonic seconds may start at 0)
    retry_delay_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "file": self.file,
            "format": self.format,
            "rows_in_file": self.rows_in_file,
            "rows_imported": self.rows_imported,
            "cleaned": self.cleaned,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class BootstrapOptions:
    datadirs: Datadirs
    preferred_format: DataFormat | None
    batch_size: int
    recheck_s: float
    wait_s: float
    min_candles: int


class HistoryBootstrapper:
    def __init__(
        self,
        store: CandleStore,
        writer: HistoryWriter,
        options: BootstrapOptions,
        metrics: HistoryMetrics,
        downloader: DownloadManager | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store = store
        self._writer = writer
        self._options = options
        self._metrics = metrics
        self._downloader = downloader
        self._series: dict[str, SeriesHistory] = {}
        self._clock = clock
        self._jobs: KeyedTasks[str, None] = KeyedTasks("history-import")
        self._retries: KeyedTasks[str, None] = KeyedTasks("history-retry")
        self._progress = asyncio.Condition()

    @property
    def datadirs(self) -> Datadirs:
        return self._options.datadirs

    def state(self, series_id: str) -> SeriesHistory | None:
        return self._series.get(series_id)

    def states(self) -> dict[str, dict[str, Any]]:
        return {k: v.as_dict() for k, v in sorted(self._series.items())}

    def state_of(self, series_id: str) -> dict[str, Any] | None:
        state = self._series.get(series_id)
        return state.as_dict() if state is not None else None

    async def ensure(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        """Return once the store can serve `series`: the newest candles (by default),
        everything after `since`, or the whole file (`complete`); whether it can. Waits at
        most `wait_s` (and, unless `download`, not for a download); past that the import
        (or download) goes on and False is returned."""
        key = str(series)
        state = self._series.get(key)
        if state is None:
            busy = self._jobs.keys() | self._retries.keys()
            forget_oldest_idle(
                self._series, lambda k, s: not s.running and k not in busy, MAX_TRACKED
            )
            state = self._series[key] = SeriesHistory()
        if key not in self._jobs:
            if self._clock.monotonic() - state.checked_at < self._options.recheck_s:
                return True
            self._start(series, state)

        def ready() -> bool:
            if not state.running:
                return True
            if complete or state.covered_from is None:
                return False
            return since is None or state.covered_from <= since + 1

        try:
            async with asyncio.timeout(self._options.wait_s), self._progress:
                await self._progress.wait_for(
                    lambda: ready() or (not download and state.status == "downloading")
                )
        except TimeoutError:
            log.info("%s is asked for before its history is complete (%s)", key, state.status)
            return False
        return ready()

    async def recheck_files(self, series_ids: Iterable[str]) -> None:
        """Re-import the series among `series_ids` whose datadir file changed since it was
        imported (`download-data` appended to it): never a download, never a first import."""
        changed = []
        for key in series_ids:
            state = self._series.get(key)
            if state is None or state.file is None or key in self._jobs:
                continue
            signature = state.signature
            now = await asyncio.to_thread(_signature, Path(state.file))
            if now is not None and signature is not None and now not in signature:
                changed.append((key, state))
        for key, state in changed:
            if key not in self._jobs:
                self._start(parse_series_id(key), state)

    def _start(self, series: SeriesId, state: SeriesHistory) -> None:
        key = str(series)
        state.checked_at = self._clock.monotonic()
        state.running = True
        self._jobs.start(key, self._run_job(series, state))

    async def resume_interrupted(self) -> list[str]:
        """Start the imports a crash or a full disk cut off, in the background."""
        resumed = []
        for key in await self._store.interrupted_imports():
            if key in self._jobs:
                continue
            try:
                series = parse_series_id(key)
            except InvalidSeriesId:
                continue
            log.info("resuming the interrupted history import of %s", key)
            self._start(series, self._series.setdefault(key, SeriesHistory()))
            resumed.append(key)
        return resumed

    def _retry_later(self, series: SeriesId, state: SeriesHistory) -> None:
        """A store write failed (disk full, I/O error): try again with backoff, whether or
        not anyone asks, so the series recovers once the cause is gone."""
        key = str(series)
        delay = state.retry_delay_s = min(
            RETRY_MAX_S, state.retry_delay_s * 2 if state.retry_delay_s else RETRY_FIRST_S
        )
        state.signature = None  # the file is unchanged, but the import must run again

        async def retry() -> None:
            await self._clock.sleep(delay)
            if key not in self._jobs:
                self._start(series, state)

        self._retries.start(key, retry())

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def stop(self) -> None:
        await self._retries.cancel_all()
        await self._jobs.cancel_all()

    # -- one job ----------------------------------------------------------------------

    async def _run_job(self, series: SeriesId, state: SeriesHistory) -> None:
        try:
            await self._run(series, state)
            state.retry_delay_s = 0.0
        except StoreError as e:
            log.error("history import of %s failed: %s", series, e)
            state.status, state.last_error = "failed", str(e)
            self._retry_later(series, state)
        except Exception as e:
            log.exception("history import of %s failed", series)
            state.status, state.last_error = "failed", f"{type(e).__name__}: {e}"
        finally:
            state.running = False
            await self._notify()  # waiters then serve whatever the store has

    async def _run(self, series: SeriesId, state: SeriesHistory) -> None:
        opts = self._options
        datadir = opts.datadirs.of(series.exchange)
        files = series_files(datadir, series, opts.preferred_format)
        downloaded = False
        if not files:
            downloaded = await self._download(series, state)
            files = series_files(datadir, series, opts.preferred_format)
        if not files:
            state.status, state.covered_from = "missing", None
            if downloaded:
                state.last_error = "freqtrade download-data wrote no file (unknown pair?)"
            elif self._downloader is not None and (error := self._downloader.last_error(series)):
                state.last_error = f"freqtrade download-data failed: {error}"
            else:
                state.last_error = None
            return
        signature = _signatures(files)
        if signature == state.signature and state.status in ("imported", "failed"):
            return  # nothing changed since the last look
        if state.signature is None and await self._imported_before(series, state, files[0]):
            state.signature = signature
            return  # imported completely before a restart, and unchanged since
        loaded = await self._load(series, state, files)
        too_short = loaded is not None and len(loaded) < opts.min_candles
        if too_short and not downloaded and await self._download(series, state):
            files = series_files(datadir, series, opts.preferred_format)
            signature = _signatures(files)
            loaded = await self._load(series, state, files) or loaded
        # As it was before the read: a file rewritten while it was read is read again.
        state.signature = signature
        if loaded is not None:
            await self._import(series, state, loaded)

    async def _imported_before(
        self, series: SeriesId, state: SeriesHistory, file: DatadirFile
    ) -> bool:
        """Whether the store records a complete import of `file` as it is now (same path,
        size and mtime): then there is nothing to read."""
        progress = await self._store.import_progress(str(series))
        if (
            progress is None
            or not progress.complete
            or progress.file_rows is None
            or progress.file_rows < self._options.min_candles
            or progress.signature != _progress_signature(str(file.path))
        ):
            return False
        state.file, state.format = str(file.path), file.format
        state.rows_in_file = state.rows_imported = progress.file_rows
        state.status, state.last_error = "imported", None
        return True

    async def _download(self, series: SeriesId, state: SeriesHistory) -> bool:
        if self._downloader is None:
            return False
        state.status = "downloading"
        await self._notify()  # readers that do not wait for a download go on
        result = await self._downloader.request(series)
        return result == "ok"

    async def _load(
        self, series: SeriesId, state: SeriesHistory, files: list[DatadirFile]
    ) -> OhlcvData | None:
        """Read the first usable file of `files`; record why the others were not."""
        errors = []
        for candidate in files:
            try:
                data = await asyncio.to_thread(
                    read_ohlcv, candidate.path, candidate.format, series.timeframe, series.market
                )
            except HistoryFileError as e:
                signature = _signature(candidate.path)
                if signature is not None and signature not in state.bad_files:
                    state.bad_files.add(signature)
                    log.warning("skipping %s", e)
                    self._metrics.bad_files.labels(e.reason).inc()
                errors.append(str(e))
                continue
            state.file, state.format = str(candidate.path), candidate.format
            state.rows_in_file = len(data)
            problems = data.report.problems()
            if problems and problems != state.cleaned:
                log.warning("cleaned %s: %s", candidate.path, problems)
                for rule, count in problems.items():
                    self._metrics.rows_dropped.labels(rule).inc(count)
            state.cleaned = problems
            state.last_error = "; ".join(errors) or None
            return data
        state.status, state.last_error = "failed", "; ".join(errors)
        return None

    async def _import(self, series: SeriesId, state: SeriesHistory, data: OhlcvData) -> None:
        """Import what the store lacks of `data`, recording progress with every batch.

        Three cases: the file was imported completely before (only candles newer than the
        stored head or older than the stored first are new); an import of this same file
        was interrupted (resume after the last committed candle); anything else (a first
        import, a changed file after an interruption): the whole file, idempotently."""
        key = str(series)
        size = self._options.batch_size
        state.status = "importing"
        signature = _progress_signature(state.file)
        # Only closed candles are stored; a file written moments ago may end with one that
        # is still forming.
        data = data.select(before=align_time(int(self._clock.time()), series.timeframe))
        stats = await self._store.stats(key)
        progress = await self._store.import_progress(key)
        incremental = bool(stats and stats.count and progress and progress.complete)
        through: int | None = None
        if stats is not None and incremental:
            newer = data.select(after=stats.head_time)
            older = data.select(before=stats.first_time)
            state.covered_from = None
            pending = [int(d.times[0]) for d in (older, newer) if len(d)]
            through = min(pending) - 1 if pending else None
        else:
            if progress is not None and progress.signature == signature:
                through = progress.through  # resume after the last committed candle
            newer = data.select(before=0)  # none
            older = data if through is None else data.select(after=through)
        total = len(newer) + len(older)
        # The file's candles the store holds already (an interrupted or earlier import):
        # reported with the new ones, so the count says what the store holds of the file.
        held = len(data) - total
        done = ImportProgress(
            signature, int(data.times[-1]) if len(data) else through, True, len(data)
        )
        # Every batch records in its own transaction the progress it completes: the first
        # says an import is under way (so an interruption is seen), the ascending ones how
        # far it has come, the last that it is complete.
        step = ImportProgress(signature, through, False)
        imported = 0

        async def write(batch: list[CandleRow]) -> None:
            nonlocal imported
            final = imported + len(batch) == total
            result = await self._writer.import_batch(
                key, batch, done if final else step, from_archive=True
            )
            imported += len(batch)
            state.rows_imported = held + imported
            self._metrics.rows_imported.inc(result.inserted)
            if result.conflicts:
                # The store keeps what it holds; the file's differing rows are not served.
                self._metrics.rows_dropped.labels("conflict").inc(len(result.conflicts))
                state.cleaned["conflict"] = state.cleaned.get("conflict", 0) + len(result.conflicts)

        # Subscribers are not sent these one by one: the next live candle after them
        # reaches each client with a `gap`, and the client re-reads over HTTP.
        for batch in newer.batches(size):
            await write(batch)
        if incremental:
            state.covered_from = stats.first_time if stats else None
            await self._notify()
        for i, batch in enumerate(older.batches(size, newest_first=True)):
            # The newest batch comes first: once it is in, the page a chart asks for first
            # is servable. The rest follows oldest first (appends are faster).
            if i > 0:
                step = ImportProgress(signature, batch[-1][0], False)
            await write(batch)
            if i == 0:
                state.covered_from = batch[0][0]
                await self._notify()
        if not total and progress != done:
            await self._store.set_import_progress(key, done)
        state.rows_imported = held + imported
        if imported and state.file is not None:
            await self._store.note_source(key, "datadir", state.file)
        state.status = "imported"
        await self._notify()
        if imported:
            log.info("imported %d candles of %s", imported, key)


def _progress_signature(path: str | None) -> str:
    signature = None if path is None else _signature(Path(path))
    return "|".join(map(str, signature)) if signature else str(path)


def _signatures(files: list[DatadirFile]) -> tuple[Signature, ...]:
    return tuple(sig for f in files if (sig := _signature(f.path)) is not None)


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)
