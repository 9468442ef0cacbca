"""SqliteCandleStore: closed candles in one SQLite file.

All SQLite work runs off the event loop: writes on one dedicated writer thread (SQLite has
one writer at a time anyway, and one thread means no lock contention), reads on a small
pool of reader threads with a connection each (WAL lets them read while the writer writes).
A batch is one `executemany` in one transaction, so commits equal batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from app.candle import CandleRow, ExtrasByTime, KlineExtras, first_of_each_time
from app.errors import StoreError
from app.lru import CostBoundedLru
from app.metrics import Metrics
from app.single_flight import SingleFlight
from app.store.holes import Hole, after_insert, hole_timeframe
from app.store.ports import (
    CandlePage,
    CandleStore,
    Conflict,
    ImportProgress,
    SeriesSource,
    SeriesStats,
    UpsertResult,
)
from app.store.sqlite.lock import holding
from app.store.sqlite.schema import connect, migrate

log = logging.getLogger(__name__)

T = TypeVar("T")

_COLUMNS = "candle_time, open, high, low, close, volume"
# SQLITE_CORRUPT and SQLITE_NOTADB (primary codes; extended ones carry them in the low byte).
_CORRUPTION_CODES = frozenset({11, 26})
_KEY_OF = "(SELECT series_key FROM series WHERE series_id = ?)"
# Every table keyed by series, the series itself last.
_OF_A_SERIES = (
    "candles", "kline_extras", "holes", "history_imports", "series_sources", "series",
)  # fmt: skip


class SqliteCandleStore(CandleStore):
    """The `CandleStore` in one SQLite file."""

    # Candles of recent pages kept in memory (about 200 bytes each).
    PAGE_CACHE_ROWS = 100_000

    def __init__(self, path: Path, metrics: Metrics, *, read_threads: int = 1) -> None:
        self._path = path
        self._metrics = metrics
        self._read_threads = read_threads
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_conns_lock = threading.Lock()
        self._held = contextlib.ExitStack()  # the store's lock file, while open
        self._series_keys: dict[str, int] = {}
        self._write_error: str | None = None
        self._corruption: str | None = None
        # Writes committed per series by this process, so a repeated page is served from
        # memory until its series is written. Another process writing the file (the
        # `import` command) shows as a write-ahead log this process did not leave: then
        # every kept page is dropped (`_external`).
        self._generations: dict[str, int] = {}
        self._wal = Path(f"{path}-wal")
        self._wal_left: tuple[int, int] | None = None
        self._external = 0
        self._reading: SingleFlight[Hashable, CandlePage] = SingleFlight()
        self._pages: CostBoundedLru[tuple[object, ...], CandlePage] = CostBoundedLru(
            self.PAGE_CACHE_ROWS
        )

    @property
    def path(self) -> Path:
        return self._path

    @property
    def is_open(self) -> bool:
        return self._write_conn is not None

    async def open(self) -> None:
        # Held while open: a restore cannot replace the file under this process.
        self._held.enter_context(holding(self._path, exclusive=False))
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="candle-store-writer")
        self._readers = ThreadPoolExecutor(
            self._read_threads, thread_name_prefix="candle-store-reader"
        )
        try:
            await self._on_writer(self._open_writer)
        except BaseException:
            await self.close()
            raise

    def _open_writer(self) -> None:
        try:
            if self._path.parent:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(str(self._path))
            found = migrate(conn)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open candle store {self._path}: {e}") from e
        if found == 0:
            log.info("created candle store %s", self._path)
        self._write_conn = conn

    async def close(self) -> None:
        writer, readers = self._writer, self._readers
        self._writer = self._readers = None
        if writer is not None:
            conn = self._write_conn
            self._write_conn = None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(writer, conn.close)
            writer.shutdown(wait=True)
        if readers is not None:
            readers.shutdown(wait=True)
        with self._read_conns_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
        self._held.close()  # the file is no longer this process's

    # -- plumbing ---------------------------------------------------------------------

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        if self._writer is None:
            raise StoreError("candle store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def _on_reader(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreError("candle store is closed")
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, self._with_read_conn, fn
        )

    def _with_read_conn(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._read_local, "conn", None)
        try:
            if conn is None:
                conn = connect(str(self._path))
                self._read_local.conn = conn
                with self._read_conns_lock:
                    self._read_conns.append(conn)
            return fn(conn)
        except sqlite3.Error as e:
            self._note_corruption(e, "a read")
            raise StoreError(f"candle store read failed: {e}") from e

    # -- writes -----------------------------------------------------------------------

    async def upsert_many(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        *,
        progress: ImportProgress | None = None,
    ) -> UpsertResult:
        """Insert or update `candles` in one transaction. Re-writing identical candles
        changes nothing; a candle whose values changed is updated in place. `progress`, when
        given, is recorded in the same transaction (so it is true exactly when committed)."""
        return await self._write_one(series_id, candles, progress, overwrite=True)

    async def insert_many(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        *,
        progress: ImportProgress | None = None,
        extras: ExtrasByTime | None = None,
    ) -> UpsertResult:
        """Store the candles the store does not hold yet, in one transaction; a held one
        stays as it is (`conflicts` lists those offered with other values). `extras` of a
        candle are kept with it when it is stored or equals the one held."""
        extras_of = None if extras is None else {series_id: extras}
        return await self._write_one(series_id, candles, progress, overwrite=False,
                                     extras=extras_of)  # fmt: skip

    async def _write_one(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        progress: ImportProgress | None,
        *,
        overwrite: bool,
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> UpsertResult:
        if not candles and progress is None:
            return UpsertResult(series_id, 0, 0, await self.head_time(series_id))
        batches = {series_id: candles}
        progress_of = None if progress is None else (series_id, progress)
        results = await self._on_writer(
            lambda: self._write_sync(batches, overwrite, progress_of, extras)
        )
        return results[series_id]

    async def upsert_batches(
        self, batches: Mapping[str, Sequence[CandleRow]]
    ) -> dict[str, UpsertResult]:
        """`upsert_many` for several series at once, still in one transaction."""
        return await self._write_batches(batches, overwrite=True)

    async def insert_batches(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> dict[str, UpsertResult]:
        """`insert_many` for several series at once, still in one transaction."""
        return await self._write_batches(batches, overwrite=False, extras=extras)

    async def _write_batches(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        *,
        overwrite: bool,
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> dict[str, UpsertResult]:
        batches = {k: v for k, v in batches.items() if v}
        if not batches:
            return {}
        return await self._on_writer(lambda: self._write_sync(batches, overwrite, None, extras))

    def _write_sync(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        overwrite: bool,
        progress: tuple[str, ImportProgress] | None = None,
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> dict[str, UpsertResult]:
        results: dict[str, UpsertResult] = {}
        # Keys of series rows created in this transaction: cached only once it commits, since
        # a rolled-back row's key is free again and SQLite hands it to the next new series.
        new_keys: dict[str, int] = {}
        write = self._upsert_series if overwrite else self._insert_series

        def work(conn: sqlite3.Connection) -> None:
            for series_id, candles in batches.items():
                results[series_id] = write(conn, series_id, candles, new_keys)
                offered = None if extras is None else extras.get(series_id)
                if offered and not overwrite:
                    self._insert_extras(conn, series_id, candles, results[series_id],
                                        offered, new_keys)  # fmt: skip
            if progress is not None:
                self._write_progress(conn, *progress, new_keys)

        self._transaction(work, f"write to {', '.join(batches)}")
        self._series_keys.update(new_keys)
        for series_id in batches:
            self._generations[series_id] = self._generations.get(series_id, 0) + 1
        self._wal_left = self._wal_state()
        self._write_ok()
        self._metrics.db_commits.inc()
        self._metrics.db_rows_written.inc(sum(len(c) for c in batches.values()))
        return results

    def _write_progress(
        self,
        conn: sqlite3.Connection,
        series_id: str,
        progress: ImportProgress,
        new_keys: dict[str, int],
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO history_imports "
            "(series_key, signature, imported_through, complete, file_rows) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                self._series_key(conn, series_id, new_keys),
                progress.signature,
                progress.through,
                int(progress.complete),
                progress.file_rows,
            ),
        )

    def _upsert_series(
        self,
        conn: sqlite3.Connection,
        series_id: str,
        candles: Sequence[CandleRow],
        new_keys: dict[str, int],
    ) -> UpsertResult:
        if not candles:
            return UpsertResult(series_id, 0, 0, None)
        key, lo, hi, disjoint, first, head_before = self._locate(conn, series_id, candles, new_keys)
        held: set[int] = set()
        if not disjoint:
            held = {r[0] for r in conn.execute(
                "SELECT candle_time FROM candles "
                "WHERE series_key = ? AND candle_time BETWEEN ? AND ?", (key, lo, hi),
            )}  # fmt: skip
        fresh = {c[0] for c in candles} - held
        changes = conn.total_changes
        # The key is our own integer, so it is inlined: the candles themselves are then
        # exactly the parameter tuples, with no per-row repacking.
        conn.executemany(
            f"INSERT INTO candles (series_key, {_COLUMNS}) "
            f"VALUES ({key:d}, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (series_key, candle_time) DO UPDATE SET "
            "open = excluded.open, high = excluded.high, low = excluded.low, "
            "close = excluded.close, volume = excluded.volume "
            "WHERE (open, high, low, close, volume) IS NOT "
            "(excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)",
            candles,
        )
        changed = conn.total_changes - changes
        inserted = len(fresh)
        head = self._extend_series(conn, key, inserted, lo, hi)
        if fresh:
            self._note_holes(conn, key, series_id, fresh, inserted, first, head_before,
                             min(fresh), max(fresh))  # fmt: skip
        written = candles if changed else ()
        return UpsertResult(series_id, inserted, changed - inserted, head, written,
                            head_before=head_before)  # fmt: skip

    def _insert_series(
        self,
        conn: sqlite3.Connection,
        series_id: str,
        candles: Sequence[CandleRow],
        new_keys: dict[str, int],
    ) -> UpsertResult:
        if not candles:
            return UpsertResult(series_id, 0, 0, None)
        key, lo, hi, disjoint, first, head_before = self._locate(conn, series_id, candles, new_keys)
        head = head_before
        conflicts: list[Conflict] = []
        if disjoint:
            fresh = candles
        else:
            stored = {
                row[0]: row
                for row in conn.execute(
                    f"SELECT {_COLUMNS} FROM candles "
                    "WHERE series_key = ? AND candle_time BETWEEN ? AND ?",
                    (key, lo, hi),
                )
            }
            fresh = []
            for candle in candles:
                held = stored.get(candle[0])
                if held is None:
                    fresh.append(candle)
                    stored[candle[0]] = candle  # a later duplicate in the batch meets it
                elif held != candle:
                    conflicts.append(Conflict(int(candle[0]), held, candle))
        changes = conn.total_changes
        # DO NOTHING: a batch may carry one time twice; the first stays, like a held candle.
        conn.executemany(
            f"INSERT INTO candles (series_key, {_COLUMNS}) "
            f"VALUES ({key:d}, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (series_key, candle_time) DO NOTHING",
            fresh,
        )
        inserted = conn.total_changes - changes
        if inserted:
            fresh_lo, fresh_hi = min(c[0] for c in fresh), max(c[0] for c in fresh)
            head = self._extend_series(conn, key, inserted, fresh_lo, fresh_hi)
            self._note_holes(conn, key, series_id, (c[0] for c in fresh), inserted, first,
                             head_before, fresh_lo, fresh_hi)  # fmt: skip
        if inserted != len(fresh):  # duplicates within the batch: the first of each stayed
            fresh = first_of_each_time(fresh)
        return UpsertResult(series_id, inserted, 0, head, fresh, tuple(conflicts), head_before)

    def _insert_extras(
        self,
        conn: sqlite3.Connection,
        series_id: str,
        candles: Sequence[CandleRow],
        result: UpsertResult,
        offered: ExtrasByTime,
        new_keys: dict[str, int],
    ) -> None:
        """The extras of the offered candles that are now held as offered (not of a
        conflict: the held candle came from elsewhere); the first kept, as for candles."""
        rejected = {c.candle_time for c in result.conflicts}
        rows = [offered[c[0]] for c in candles if c[0] in offered and c[0] not in rejected]
        if rows:
            key = self._series_key(conn, series_id, new_keys)
            conn.executemany(
                "INSERT INTO kline_extras (series_key, candle_time, quote_volume, trades, "
                f"taker_base_volume, taker_quote_volume) VALUES ({key:d}, ?, ?, ?, ?, ?) "
                "ON CONFLICT (series_key, candle_time) DO NOTHING",
                rows,
            )

    def _wal_state(self) -> tuple[int, int]:
        try:
            st = os.stat(self._wal)
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def _written_elsewhere(self) -> int:
        """A count that moves whenever another process has written the file."""
        state = self._wal_state()
        if state != self._wal_left:
            self._wal_left = state
            self._external += 1
        return self._external

    def _locate(
        self,
        conn: sqlite3.Connection,
        series_id: str,
        candles: Sequence[CandleRow],
        new_keys: dict[str, int],
    ) -> tuple[int, int, int, bool, int | None, int | None]:
        """The series' key, the batch's first and last time, whether the batch is disjoint
        from what is stored, and the stored first and head.

        Stored rows all lie within [first, head]. A batch wholly outside it (history before
        the first candle, live candles after the head: the usual cases) cannot meet one, so
        its distinct times are exactly the new rows; no reading or counting is needed."""
        lo = min(c[0] for c in candles)
        hi = max(c[0] for c in candles)
        key = self._series_key(conn, series_id, new_keys)
        first, head = conn.execute(
            "SELECT first_time, head_time FROM series WHERE series_key = ?", (key,)
        ).fetchone()
        return key, lo, hi, first is None or hi < first or lo > head, first, head

    @staticmethod
    def _note_holes(
        conn: sqlite3.Connection,
        key: int,
        series_id: str,
        fresh: Iterable[int],
        count: int,
        first: int | None,
        head: int | None,
        lo: int,
        hi: int,
    ) -> None:
        """Keep the series' holes as `fresh` (`count` times newly stored, between `lo` and
        `hi`) joins what was stored from `first` to `head`: only the holes it falls into
        are read."""
        touched: list[Hole] = []
        if first is not None and head is not None and lo < head and hi > first:
            touched = conn.execute(
                "SELECT after_time, before_time FROM holes "
                "WHERE series_key = ? AND before_time > ? AND after_time < ?",
                (key, lo, hi),
            ).fetchall()
        timeframe = hole_timeframe(series_id)
        change = after_insert(fresh, count, lo, hi, first, head, touched, timeframe)
        if change.removed:
            conn.executemany(
                f"DELETE FROM holes WHERE series_key = {key:d} AND after_time = ?",
                [(h[0],) for h in change.removed],
            )
        if change.added:
            conn.executemany(f"INSERT INTO holes VALUES ({key:d}, ?, ?)", change.added)

    @staticmethod
    def _extend_series(
        conn: sqlite3.Connection, key: int, inserted: int, lo: int, hi: int
    ) -> int | None:
        """Count `inserted` new rows between `lo` and `hi`; the series' head time after."""
        head: int | None = conn.execute(
            "UPDATE series SET row_count = row_count + ?, "
            "first_time = min(coalesce(first_time, ?), ?), "
            "head_time = max(coalesce(head_time, ?), ?) "
            "WHERE series_key = ? RETURNING head_time",
            (inserted, lo, lo, hi, hi, key),
        ).fetchone()[0]
        return head

    def _series_key(
        self, conn: sqlite3.Connection, series_id: str, new_keys: dict[str, int]
    ) -> int:
        key = self._series_keys.get(series_id) or new_keys.get(series_id)
        if key is None:
            row = conn.execute(
                "INSERT INTO series (series_id) VALUES (?) "
                "ON CONFLICT (series_id) DO UPDATE SET series_id = excluded.series_id "
                "RETURNING series_key",
                (series_id,),
            ).fetchone()
            key = new_keys[series_id] = int(row[0])
        return key

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # On SQLITE_FULL, IOERR, NOMEM and the like SQLite has already rolled back, and an
        # explicit ROLLBACK would raise and hide the real cause.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _write_failed(self, error: sqlite3.Error) -> None:
        self._write_error = str(error)
        self._metrics.db_write_failures.inc()
        self._note_corruption(error, "a write")

    def _write_ok(self) -> None:
        self._write_error = None

    def _note_corruption(self, error: sqlite3.Error, during: str) -> None:
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _CORRUPTION_CODES and self._corruption is None:
            self._corruption = f"{error} (found by {during}; run `trade-canvas check-store`)"
            log.error("candle store %s is corrupt: %s", self._path, self._corruption)

    @property
    def write_error(self) -> str | None:
        """Why the last write failed, until a write succeeds again (e.g. the disk is full)."""
        return self._write_error

    @property
    def corruption(self) -> str | None:
        """What a read or write found corrupt in the file; it stays until the file is
        repaired and the server restarted."""
        return self._corruption

    # -- reads ------------------------------------------------------------------------

    async def page(
        self,
        series_id: str,
        limit: int,
        *,
        since: int | None = None,
        before: int | None = None,
        newest: bool | None = None,
        extras: bool = False,
    ) -> CandlePage:
        """One page of candles, ascending, plus the series' head time (and, `extras`, the
        candles' `KlineExtras`), in one read.

        The candles after `since` and before `before` (both exclusive, either optional):
        the oldest `limit` of them when `since` is given, else the newest (`newest`
        chooses when both bounds are given).
        """
        take_newest = since is None if newest is None else newest
        request = (series_id, limit, since, before, take_newest, extras)
        # Taken before the read: a write that lands meanwhile leaves the page stale-named,
        # so the next request reads again.
        version = (*request, self._generations.get(series_id, 0), self._written_elsewhere())
        cached = self._pages.get(request)
        if cached is not None and cached.version == version:
            return cached
        bounds, params = "", list[object]([series_id])
        if since is not None:
            bounds += " AND candle_time > ?"
            params.append(since)
        if before is not None:
            bounds += " AND candle_time < ?"
            params.append(before)
        order = "DESC" if take_newest else ""
        query = (
            f"SELECT {_COLUMNS} FROM candles WHERE series_key = {_KEY_OF}{bounds} "
            f"ORDER BY candle_time {order} LIMIT {int(limit):d}"
        )

        def read(conn: sqlite3.Connection) -> CandlePage:
            started = time.perf_counter()
            # One read transaction, so the head time matches the rows.
            conn.execute("BEGIN")
            try:
                rows: list[CandleRow] = conn.execute(query, params).fetchall()
                head = conn.execute(
                    "SELECT head_time FROM series WHERE series_id = ?", (series_id,)
                ).fetchone()
                kept: dict[int, KlineExtras] = {}
                if extras and rows:
                    # Plain row tuples, the fields in `KlineExtras` order: no object per row.
                    found: list[KlineExtras] = conn.execute(
                        "SELECT candle_time, quote_volume, trades, taker_base_volume, "
                        f"taker_quote_volume FROM kline_extras WHERE series_key = {_KEY_OF} "
                        "AND candle_time BETWEEN ? AND ?",
                        (series_id, min(rows[0][0], rows[-1][0]), max(rows[0][0], rows[-1][0])),
                    ).fetchall()
                    kept = dict(zip([row[0] for row in found], found, strict=True))
            finally:
                conn.execute("COMMIT")
                self._metrics.db_read_seconds.observe(time.perf_counter() - started)
            if take_newest:
                rows.reverse()
            return CandlePage(rows, head[0] if head else None, version, kept)

        # The same page asked for again while it is read (a fleet of bots polling one
        # series) is that one read.
        page = await self._reading.run(version, lambda: self._on_reader(read))
        self._pages.put(request, page, len(page.candles) + 1)
        return page

    async def stats(self, series_id: str) -> SeriesStats | None:
        def read(conn: sqlite3.Connection) -> SeriesStats | None:
            row = conn.execute(
                "SELECT series_id, first_time, head_time, row_count, "
                "(SELECT count(*) FROM holes h WHERE h.series_key = s.series_key) "
                "FROM series s WHERE series_id = ?",
                (series_id,),
            ).fetchone()
            return SeriesStats(*row) if row else None

        return await self._on_reader(read)

    async def import_progress(self, series_id: str) -> ImportProgress | None:
        def read(conn: sqlite3.Connection) -> ImportProgress | None:
            row = conn.execute(
                "SELECT signature, imported_through, complete, file_rows FROM history_imports "
                f"WHERE series_key = {_KEY_OF}",
                (series_id,),
            ).fetchone()
            return ImportProgress(row[0], row[1], bool(row[2]), row[3]) if row else None

        return await self._on_reader(read)

    async def interrupted_imports(self) -> list[str]:
        """Series whose datadir import was cut off (crash, disk full) before it completed."""

        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT s.series_id FROM history_imports h JOIN series s USING (series_key) "
                "WHERE NOT h.complete ORDER BY s.series_id"
            ).fetchall()
            return [r[0] for r in rows]

        return await self._on_reader(read)

    async def list_series(self) -> list[SeriesStats]:
        def read(conn: sqlite3.Connection) -> list[SeriesStats]:
            rows = conn.execute(
                "SELECT series_id, first_time, head_time, row_count, "
                "(SELECT count(*) FROM holes h WHERE h.series_key = s.series_key) "
                "FROM series s WHERE row_count > 0 ORDER BY series_id"
            ).fetchall()
            return [SeriesStats(*row) for row in rows]

        return await self._on_reader(read)

    async def note_source(self, series_id: str, kind: str, identity: str) -> None:
        new_keys: dict[str, int] = {}

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO series_sources VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (self._series_key(conn, series_id, new_keys), kind, identity, int(time.time())),
            )

        await self._on_writer(
            lambda: self._transaction(write, f"recording where {series_id} came from")
        )
        self._series_keys.update(new_keys)

    async def sources(self) -> dict[str, list[SeriesSource]]:
        def read(conn: sqlite3.Connection) -> dict[str, list[SeriesSource]]:
            found: dict[str, list[SeriesSource]] = {}
            for series_id, kind, identity, since in conn.execute(
                "SELECT s.series_id, o.kind, o.identity, o.since FROM series_sources o "
                "JOIN series s USING (series_key) ORDER BY s.series_id, o.since"
            ):
                found.setdefault(series_id, []).append(SeriesSource(kind, identity, since))
            return found

        return await self._on_reader(read)

    async def forget(self, series_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT series_key, row_count FROM series WHERE series_id = ?", (series_id,)
            ).fetchone()
            if row is None:
                return 0
            for table in _OF_A_SERIES:
                conn.execute(f"DELETE FROM {table} WHERE series_key = ?", (row[0],))
            return int(row[1])

        removed = await self._on_writer(lambda: self._transaction(write, f"forgetting {series_id}"))
        self._series_keys.pop(series_id, None)
        self._generations[series_id] = self._generations.get(series_id, 0) + 1
        return removed

    def _transaction(self, work: Callable[[sqlite3.Connection], T], what: str) -> T:
        """`work` in one write transaction (on the writer thread)."""
        conn = self._write_conn
        if conn is None:
            raise StoreError("candle store is closed")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise
        except sqlite3.Error as e:
            self._write_failed(e)
            raise StoreError(f"{what} failed: {e}") from e
        return done

    async def holes(self, series_id: str) -> list[Hole]:
        def read(conn: sqlite3.Connection) -> list[Hole]:
            rows = conn.execute(
                f"SELECT after_time, before_time FROM holes WHERE series_key = {_KEY_OF} "
                "ORDER BY after_time",
                (series_id,),
            ).fetchall()
            return [(int(a), int(b)) for a, b in rows]

        return await self._on_reader(read)
