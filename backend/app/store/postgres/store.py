"""PostgresCandleStore: closed candles in PostgreSQL, through an asyncpg pool.

A batch is one transaction of a few statements whatever it spans, never one per row: the
series rows are locked in one statement (in one order in every process, so writers take
turns per series and never deadlock); the candles of every series wholly outside its
stored range go in with one `COPY`, the rest as arrays (`unnest`) through `INSERT ... ON
CONFLICT`. `generation` on the series row moves with each write and names a page's answer
for caches in any process."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from app.candle import CandleRow, ExtrasByTime, KlineExtras, first_of_each_time
from app.errors import Fenced, StoreError
from app.metrics import Metrics
from app.redact import safe_url, without_secrets
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
from app.store.postgres.schema import migrate
from app.store.postgres.timescale import use_timescale

log = logging.getLogger(__name__)

_COLUMNS = "candle_time, open, high, low, close, volume"
# Rows inserted before the first ANALYZE of a fresh store.
ANALYZE_AFTER_ROWS = 10_000
_COPY_COLUMNS = ("series_key", "candle_time", "open", "high", "low", "close", "volume")
_UNNEST = (
    "SELECT $1::bigint, t, o, h, l, c, v FROM unnest($2::bigint[], $3::float8[], "
    "$4::float8[], $5::float8[], $6::float8[], $7::float8[]) AS x(t, o, h, l, c, v)"
)
# Connection problems and everything PostgreSQL refuses: the store is unavailable, the
# caller sees a `StoreError`.
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_CONNECTION_ERRORS = (
    OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)  # fmt: skip


class PostgresCandleStore(CandleStore):
    """The `CandleStore` in a PostgreSQL database (`postgresql://...`)."""

    def __init__(self, dsn: str, metrics: Metrics, *, pool_size: int = 4) -> None:
        self._dsn = dsn
        self._metrics = metrics
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        # The leader's fencing token while this process leads ingest: every write checks it.
        self._fence: int | None = None
        self._write_error: str | None = None
        # Why the database cannot be reached, from the last read or write that failed so;
        # cleared by the next that succeeds (the pool reconnects by itself).
        self._unreachable: str | None = None
        # Rows this process inserted, and how many of them the last ANALYZE had seen.
        self._inserted = 0
        self._analyzed = 0
        self._hypertable = False

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def hypertable(self) -> bool:
        """Whether candles live in a TimescaleDB hypertable (else a plain table)."""
        return self._hypertable

    @property
    def write_error(self) -> str | None:
        if self._unreachable is not None:
            return f"the database cannot be reached: {self._unreachable}"
        return self._write_error

    @property
    def corruption(self) -> str | None:
        return None  # PostgreSQL guards its own pages; a failing read is a read error

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._pool_size, command_timeout=60
            )
        except (*_DB_ERRORS, ValueError) as e:
            raise StoreError(
                f"cannot open candle store {safe_url(self._dsn)}: "
                f"{without_secrets(str(e), self._dsn)}"
            ) from e
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
                self._hypertable = await use_timescale(conn)
        except _DB_ERRORS as e:
            await pool.close()
            raise StoreError(
                f"cannot migrate candle store {safe_url(self._dsn)}: "
                f"{without_secrets(str(e), self._dsn)}"
            ) from e
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def dsn(self) -> str:
        return self._dsn

    def fence(self, epoch: int | None) -> None:
        """Write only while the leader's epoch in the database is `epoch` (None: always)."""
        self._fence = epoch

    def _open_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("candle store is closed")
        return self._pool

    # -- writes -----------------------------------------------------------------------

    async def upsert_many(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        *,
        progress: ImportProgress | None = None,
    ) -> UpsertResult:
        if not candles and progress is None:
            return UpsertResult(series_id, 0, 0, await self.head_time(series_id))
        results = await self._write({series_id: candles}, True, (series_id, progress), None)
        return results[series_id]

    async def insert_many(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        *,
        progress: ImportProgress | None = None,
        extras: ExtrasByTime | None = None,
    ) -> UpsertResult:
        if not candles and progress is None:
            return UpsertResult(series_id, 0, 0, await self.head_time(series_id))
        extras_of = None if extras is None else {series_id: extras}
        results = await self._write({series_id: candles}, False, (series_id, progress), extras_of)
        return results[series_id]

    async def upsert_batches(
        self, batches: Mapping[str, Sequence[CandleRow]]
    ) -> dict[str, UpsertResult]:
        batches = {k: v for k, v in batches.items() if v}
        return await self._write(batches, True, None, None) if batches else {}

    async def insert_batches(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> dict[str, UpsertResult]:
        batches = {k: v for k, v in batches.items() if v}
        return await self._write(batches, False, None, extras) if batches else {}

    async def _write(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        overwrite: bool,
        progress: tuple[str, ImportProgress | None] | None,
        extras: Mapping[str, ExtrasByTime] | None,
    ) -> dict[str, UpsertResult]:
        pool = self._open_pool()
        results: dict[str, UpsertResult] = {}
        try:
            async with pool.acquire() as conn, conn.transaction():
                if self._fence is not None:
                    await self._check_fence(conn, self._fence)
                named = [*batches, *([progress[0]] if progress is not None else [])]
                located = await self._lock_series(conn, named)
                rest = dict(batches)
                if not overwrite:
                    # Batches wholly after the head or before the first candle (live
                    # closes, older history) meet nothing stored: all in one COPY.
                    outside = {s: c for s, c in batches.items() if c and _outside(c, located[s])}
                    results.update(await self._copy_in(conn, outside, located))
                    rest = {s: c for s, c in batches.items() if s not in outside}
                for series_id, candles in rest.items():
                    key, _, head = located[series_id]
                    if not candles:
                        results[series_id] = UpsertResult(series_id, 0, 0, head, head_before=head)
                        continue
                    if overwrite:
                        first = located[series_id][1]
                        results[series_id] = await self._upsert(
                            conn, series_id, key, candles, first, head
                        )
                    else:
                        results[series_id] = await self._insert(conn, series_id, key, candles, head)
                if not overwrite:  # an upsert keeps its holes itself
                    for series_id, result in results.items():
                        if result.inserted:
                            key, first, head = located[series_id]
                            fresh = [c[0] for c in result.written]
                            await _note_holes(conn, key, series_id, fresh, first, head)
                if extras and not overwrite:
                    await self._insert_extras(conn, batches, results, extras, located)
                if progress is not None and progress[1] is not None:
                    await self._write_progress(conn, located[progress[0]][0], progress[1])
        except _DB_ERRORS as e:
            self._write_error = str(e)
            self._note_reach(e)
            self._metrics.db_write_failures.inc()
            raise StoreError(f"write to {', '.join(batches)} failed: {e}") from e
        self._write_error = self._unreachable = None
        self._inserted += sum(r.inserted for r in results.values())
        if self._inserted - self._analyzed >= max(ANALYZE_AFTER_ROWS, self._analyzed):
            await self._analyze(pool)
        self._metrics.db_commits.inc()
        self._metrics.db_rows_written.inc(sum(len(c) for c in batches.values()))
        return results

    @staticmethod
    async def _check_fence(conn: asyncpg.Connection, epoch: int) -> None:
        current = await conn.fetchval("SELECT epoch FROM tc_leader WHERE id = 1 FOR SHARE")
        if current != epoch:
            raise Fenced(f"leader epoch {epoch} was superseded by {current}: not writing")

    async def _analyze(self, pool: asyncpg.Pool) -> None:
        """Fresh statistics after a large import: without them the planner takes a new
        table for a small one and sorts a whole series to return a page (30 ms, not 3)
        until autovacuum comes by. Analyzed again each time the rows this process wrote
        double, so a long import pays a handful of times."""
        self._analyzed = self._inserted
        try:
            async with pool.acquire() as conn:
                await conn.execute("ANALYZE candles")
        except _DB_ERRORS as e:  # only a plan at stake: autovacuum will do it later
            log.warning("ANALYZE of the candle store failed: %s", e)

    @staticmethod
    async def _lock_series(
        conn: asyncpg.Connection, series_ids: Sequence[str]
    ) -> dict[str, tuple[int, int | None, int | None]]:
        """Each series' key, first and head time; their rows stay locked until commit,
        taken in one order by every process so that writers never deadlock."""
        rows = await conn.fetch(
            "INSERT INTO series (series_id) SELECT unnest($1::text[]) ORDER BY 1 "
            "ON CONFLICT (series_id) DO UPDATE SET generation = series.generation + 1 "
            "RETURNING series_id, series_key, first_time, head_time",
            sorted(set(series_ids)),
        )
        return {r[0]: (int(r[1]), r[2], r[3]) for r in rows}

    async def _copy_in(
        self,
        conn: asyncpg.Connection,
        batches: Mapping[str, Sequence[CandleRow]],
        located: Mapping[str, tuple[int, int | None, int | None]],
    ) -> dict[str, UpsertResult]:
        if not batches:
            return {}
        fresh = {s: first_of_each_time(c) for s, c in batches.items()}
        await conn.copy_records_to_table(
            "candles",
            records=[(located[s][0], *c) for s, rows in fresh.items() for c in rows],
            columns=_COPY_COLUMNS,
        )
        heads = await self._extend(
            conn, {located[s][0]: (len(rows), rows) for s, rows in fresh.items()}
        )
        return {
            s: UpsertResult(s, len(rows), 0, heads[located[s][0]], rows, (), located[s][2])
            for s, rows in fresh.items()
        }

    async def _insert(
        self,
        conn: asyncpg.Connection,
        series_id: str,
        key: int,
        candles: Sequence[CandleRow],
        head: int | None,
    ) -> UpsertResult:
        lo, hi = min(c[0] for c in candles), max(c[0] for c in candles)
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM candles WHERE series_key = $1 "
            "AND candle_time BETWEEN $2 AND $3",
            key, lo, hi,
        )  # fmt: skip
        stored = {r[0]: _row(r) for r in rows}
        conflicts: list[Conflict] = []
        fresh = []
        for candle in candles:
            held = stored.get(candle[0])
            if held is None:
                fresh.append(candle)
                stored[candle[0]] = candle  # a later duplicate in the batch meets it
            elif tuple(held) != tuple(candle):
                conflicts.append(Conflict(int(candle[0]), held, candle))
        inserted = 0
        if fresh:
            inserted = await conn.fetchval(
                f"WITH ins AS (INSERT INTO candles (series_key, {_COLUMNS}) {_UNNEST} "
                "ON CONFLICT (series_key, candle_time) DO NOTHING RETURNING 1) "
                "SELECT count(*) FROM ins",
                key, *_columns(fresh),
            )  # fmt: skip
        new_head = head
        if inserted:
            new_head = (await self._extend(conn, {key: (inserted, fresh)}))[key]
        return UpsertResult(series_id, inserted, 0, new_head, fresh, tuple(conflicts), head)

    async def _upsert(
        self,
        conn: asyncpg.Connection,
        series_id: str,
        key: int,
        candles: Sequence[CandleRow],
        first: int | None,
        head: int | None,
    ) -> UpsertResult:
        # One statement cannot touch a row twice: the last of a time wins, as it would
        # written one after another.
        last = list({c[0]: c for c in candles}.values())
        rows = await conn.fetch(
            f"INSERT INTO candles (series_key, {_COLUMNS}) {_UNNEST} "
            "ON CONFLICT (series_key, candle_time) DO UPDATE SET "
            "open = excluded.open, high = excluded.high, low = excluded.low, "
            "close = excluded.close, volume = excluded.volume "
            "WHERE (candles.open, candles.high, candles.low, candles.close, candles.volume) "
            "IS DISTINCT FROM "
            "(excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume) "
            "RETURNING (xmax = 0) AS inserted, candle_time",
            key, *_columns(last),
        )  # fmt: skip
        fresh = [r[1] for r in rows if r[0]]
        inserted = len(fresh)
        if fresh:
            await _note_holes(conn, key, series_id, fresh, first, head)
        new_head = (await self._extend(conn, {key: (inserted, last)}))[key] if inserted else head
        written = candles if rows else ()
        return UpsertResult(series_id, inserted, len(rows) - inserted, new_head, written,
                            head_before=head)  # fmt: skip

    @staticmethod
    async def _extend(
        conn: asyncpg.Connection, added: Mapping[int, tuple[int, Sequence[CandleRow]]]
    ) -> dict[int, int | None]:
        """Per series key, count `n` new rows among its candles; the heads after."""
        spans = [(min(c[0] for c in rows), max(c[0] for c in rows)) for _, rows in added.values()]
        updated = await conn.fetch(
            "UPDATE series SET row_count = row_count + v.n, "
            "first_time = least(coalesce(first_time, v.lo), v.lo), "
            "head_time = greatest(coalesce(head_time, v.hi), v.hi) "
            "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) "
            "AS v(key, n, lo, hi) WHERE series_key = v.key "
            "RETURNING series_key, head_time",
            list(added), [n for n, _ in added.values()], [lo for lo, _ in spans],
            [hi for _, hi in spans],
        )  # fmt: skip
        return {r[0]: r[1] for r in updated}

    @staticmethod
    async def _insert_extras(
        conn: asyncpg.Connection,
        batches: Mapping[str, Sequence[CandleRow]],
        results: Mapping[str, UpsertResult],
        extras: Mapping[str, ExtrasByTime],
        located: Mapping[str, tuple[int, int | None, int | None]],
    ) -> None:
        """The extras of the offered candles now held as offered (not of a conflict: the
        held candle came from elsewhere), every series in one statement."""
        keys: list[int] = []
        rows: list[KlineExtras] = []
        for series_id, offered in extras.items():
            if series_id not in results or not offered:
                continue
            rejected = {c.candle_time for c in results[series_id].conflicts}
            for candle in batches[series_id]:
                if candle[0] in offered and candle[0] not in rejected:
                    keys.append(located[series_id][0])
                    rows.append(offered[candle[0]])
        if not rows:
            return
        await conn.execute(
            "INSERT INTO kline_extras (series_key, candle_time, quote_volume, trades, "
            "taker_base_volume, taker_quote_volume) "
            "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::bigint[], "
            "$5::float8[], $6::float8[]) "
            "ON CONFLICT (series_key, candle_time) DO NOTHING",
            keys, *(list(column) for column in zip(*rows, strict=True)),
        )  # fmt: skip

    @staticmethod
    async def _write_progress(conn: asyncpg.Connection, key: int, progress: ImportProgress) -> None:
        await conn.execute(
            "INSERT INTO history_imports "
            "(series_key, signature, imported_through, complete, file_rows) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (series_key) DO UPDATE SET "
            "signature = excluded.signature, imported_through = excluded.imported_through, "
            "complete = excluded.complete, file_rows = excluded.file_rows",
            key, progress.signature, progress.through, progress.complete, progress.file_rows,
        )  # fmt: skip

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
        take_newest = since is None if newest is None else newest
        bounds = ""
        params: list[Any] = []
        if since is not None:
            params.append(since)
            bounds += f" AND candle_time > ${len(params) + 1}"
        if before is not None:
            params.append(before)
            bounds += f" AND candle_time < ${len(params) + 1}"
        order = "DESC" if take_newest else ""
        query = (
            f"SELECT {_COLUMNS} FROM candles WHERE series_key = $1{bounds} "
            f"ORDER BY candle_time {order} LIMIT {int(limit):d}"
        )
        rows: list[CandleRow] = []
        kept: dict[int, KlineExtras] = {}
        started = time.perf_counter()
        try:
            # One snapshot, so the head time matches the rows.
            async with (
                self._open_pool().acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                series = await conn.fetchrow(
                    "SELECT series_key, head_time, generation FROM series WHERE series_id = $1",
                    series_id,
                )
                if series is not None:
                    rows = [_row(r) for r in await conn.fetch(query, series[0], *params)]
                if extras and rows:
                    lo, hi = min(rows[0][0], rows[-1][0]), max(rows[0][0], rows[-1][0])
                    found = await conn.fetch(
                        "SELECT candle_time, quote_volume, trades, taker_base_volume, "
                        "taker_quote_volume FROM kline_extras WHERE series_key = $1 "
                        "AND candle_time BETWEEN $2 AND $3",
                        series[0], lo, hi,
                    )  # fmt: skip
                    kept = {r[0]: KlineExtras(*r) for r in found}
        except _DB_ERRORS as e:
            self._note_reach(e)
            raise StoreError(f"candle store read failed: {e}") from e
        self._metrics.db_read_seconds.observe(time.perf_counter() - started)
        self._unreachable = None
        if take_newest:
            rows.reverse()
        head, generation = (series[1], series[2]) if series is not None else (None, None)
        version = (series_id, limit, since, before, take_newest, extras, generation)
        return CandlePage(rows, head, version, kept)

    async def stats(self, series_id: str) -> SeriesStats | None:
        row = await self._fetchrow(
            f"SELECT series_id, first_time, head_time, row_count, {_HOLE_COUNT} "
            "FROM series s WHERE series_id = $1",
            series_id,
        )
        return SeriesStats(*row) if row else None

    async def note_source(self, series_id: str, kind: str, identity: str) -> None:
        await self._execute(
            "note where it came from",
            "WITH s AS (INSERT INTO series (series_id) VALUES ($1) ON CONFLICT (series_id) "
            "DO UPDATE SET series_id = excluded.series_id RETURNING series_key) "
            "INSERT INTO series_sources SELECT series_key, $2, $3, $4 FROM s "
            "ON CONFLICT DO NOTHING",
            series_id, kind, identity, int(time.time()),
        )  # fmt: skip

    async def sources(self) -> dict[str, list[SeriesSource]]:
        found: dict[str, list[SeriesSource]] = {}
        for r in await self._fetch(
            "SELECT s.series_id, o.kind, o.identity, o.since FROM series_sources o "
            "JOIN series s USING (series_key) ORDER BY s.series_id, o.since"
        ):
            found.setdefault(r[0], []).append(SeriesSource(r[1], r[2], r[3]))
        return found

    async def forget(self, series_id: str) -> int:
        try:
            async with self._open_pool().acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT series_key, row_count FROM series WHERE series_id = $1 FOR UPDATE",
                    series_id,
                )
                if row is None:
                    return 0
                for table in ("candles", "kline_extras", "holes", "history_imports",
                              "series_sources", "series"):  # fmt: skip
                    await conn.execute(f"DELETE FROM {table} WHERE series_key = $1", row[0])
        except _DB_ERRORS as e:
            self._note_reach(e)
            raise StoreError(f"forgetting {series_id} failed: {e}") from e
        return int(row[1])

    async def _execute(self, what: str, query: str, *args: Any) -> None:
        try:
            await self._open_pool().execute(query, *args)
        except _DB_ERRORS as e:
            self._note_reach(e)
            raise StoreError(f"cannot {what}: {e}") from e

    async def holes(self, series_id: str) -> list[Hole]:
        rows = await self._fetch(
            "SELECT h.after_time, h.before_time FROM holes h JOIN series s USING (series_key) "
            "WHERE s.series_id = $1 ORDER BY h.after_time",
            series_id,
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def import_progress(self, series_id: str) -> ImportProgress | None:
        row = await self._fetchrow(
            "SELECT h.signature, h.imported_through, h.complete, h.file_rows "
            "FROM history_imports h JOIN series s USING (series_key) WHERE s.series_id = $1",
            series_id,
        )
        return ImportProgress(row[0], row[1], bool(row[2]), row[3]) if row else None

    async def interrupted_imports(self) -> list[str]:
        rows = await self._fetch(
            "SELECT s.series_id FROM history_imports h JOIN series s USING (series_key) "
            "WHERE NOT h.complete ORDER BY s.series_id"
        )
        return [r[0] for r in rows]

    async def list_series(self) -> list[SeriesStats]:
        rows = await self._fetch(
            f"SELECT series_id, first_time, head_time, row_count, {_HOLE_COUNT} "
            "FROM series s WHERE row_count > 0 ORDER BY series_id"
        )
        return [SeriesStats(*r) for r in rows]

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        rows = await self._fetch(query, *args)
        return rows[0] if rows else None

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        try:
            rows = list(await self._open_pool().fetch(query, *args))
        except _DB_ERRORS as e:
            self._note_reach(e)
            raise StoreError(f"candle store read failed: {e}") from e
        self._unreachable = None
        return rows

    def _note_reach(self, error: BaseException) -> None:
        """A lost connection or a database that is gone, as opposed to a refused query."""
        if isinstance(error, _CONNECTION_ERRORS):
            self._unreachable = str(error) or type(error).__name__


async def _note_holes(
    conn: asyncpg.Connection,
    key: int,
    series_id: str,
    fresh: Sequence[int],
    first: int | None,
    head: int | None,
) -> None:
    """Keep the series' holes as `fresh` (newly stored) joins what was stored from `first`
    to `head`: only the holes it falls into are read, and only when it falls inside."""
    lo, hi = min(fresh), max(fresh)
    timeframe = hole_timeframe(series_id)
    touched: list[Hole] = []
    if first is not None and head is not None and lo < head and hi > first:
        rows = await conn.fetch(
            "SELECT after_time, before_time FROM holes "
            "WHERE series_key = $1 AND before_time > $2 AND after_time < $3",
            key, lo, hi,
        )  # fmt: skip
        touched = [(r[0], r[1]) for r in rows]
    change = after_insert(fresh, len(fresh), lo, hi, first, head, touched, timeframe)
    if change.removed:
        await conn.execute(
            "DELETE FROM holes WHERE series_key = $1 AND after_time = ANY($2::bigint[])",
            key, [h[0] for h in change.removed],
        )  # fmt: skip
    if change.added:
        await conn.execute(
            "INSERT INTO holes SELECT $1, unnest($2::bigint[]), unnest($3::bigint[])",
            key, [h[0] for h in change.added], [h[1] for h in change.added],
        )  # fmt: skip


def _outside(candles: Sequence[CandleRow], located: tuple[int, int | None, int | None]) -> bool:
    """Whether a batch lies wholly outside the stored [first, head] of its series."""
    _, first, head = located
    return (
        first is None
        or head is None
        or max(c[0] for c in candles) < first
        or min(c[0] for c in candles) > head
    )


_HOLE_COUNT = "(SELECT count(*) FROM holes h WHERE h.series_key = s.series_key)"


def _row(record: asyncpg.Record) -> CandleRow:
    return (record[0], record[1], record[2], record[3], record[4], record[5])


def _columns(candles: Sequence[CandleRow]) -> list[list[Any]]:
    """The candles as six column arrays, for `unnest`."""
    return [list(column) for column in zip(*candles, strict=True)]
