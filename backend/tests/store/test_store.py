from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.candle import Candle, KlineExtras
from app.errors import StoreError
from app.metrics import Metrics
from app.store import CandleStore
from app.store.postgres import PostgresCandleStore
from app.store.sqlite import SqliteCandleStore
from app.store.sqlite.schema import SCHEMA_VERSION

S = "binance:spot:BTC/USDT:1m"
T = 1_700_000_040


def bars(start: int, n: int, base: float = 100.0) -> list[Candle]:
    return [
        Candle(start + 60 * i, base + i, base + i + 2, base + i - 1, base + i + 1, 5.0 + i)
        for i in range(n)
    ]


def counter(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None
    return value


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CandleStore]:
    """Each engine behind the port: the same contract holds for both."""
    s: CandleStore
    if request.param == "postgres":
        s = PostgresCandleStore(request.getfixturevalue("postgres_dsn"), Metrics())
    else:
        s = SqliteCandleStore(tmp_path / "candles.sqlite", Metrics())
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteCandleStore]:
    """For what only the SQLite engine does (its in-memory pages, its file)."""
    s = SqliteCandleStore(tmp_path / "candles.sqlite", Metrics())
    await s.open()
    yield s
    await s.close()


async def test_upsert_then_read_back(store: CandleStore) -> None:
    candles = bars(600, 10)
    result = await store.upsert_many(S, candles)
    assert (result.inserted, result.updated, result.head_time) == (10, 0, 600 + 9 * 60)
    assert await store.newest(S, 100) == candles
    stats = await store.stats(S)
    assert stats is not None
    assert (stats.first_time, stats.head_time, stats.count) == (600, 1140, 10)


async def test_rewriting_identical_candles_changes_nothing(store: CandleStore) -> None:
    candles = bars(600, 50)
    await store.upsert_many(S, candles)
    result = await store.upsert_many(S, candles)
    assert (result.inserted, result.updated) == (0, 0)
    stats = await store.stats(S)
    assert stats is not None and stats.count == 50


async def test_changed_candle_is_updated_in_place(store: CandleStore) -> None:
    await store.upsert_many(S, bars(600, 5))
    fixed = Candle(720, 1.0, 9.0, 0.5, 8.0, 99.0)
    result = await store.upsert_many(S, [fixed, *bars(900, 2)])
    assert (result.inserted, result.updated) == (2, 1)
    rows = await store.newest(S, 100)
    assert len(rows) == 7
    assert rows[2] == fixed
    stats = await store.stats(S)
    assert stats is not None and (stats.count, stats.head_time) == (7, 960)


async def test_commits_equal_batches_not_candles(tmp_path: Path) -> None:
    metrics = Metrics()
    store = SqliteCandleStore(tmp_path / "c.sqlite", metrics)
    await store.open()
    try:
        for batch in range(7):
            await store.upsert_many(S, bars(60 * 1000 * batch, 1000))
        assert counter(metrics, "trade_canvas_db_commits_total") == 7
        assert counter(metrics, "trade_canvas_db_rows_written_total") == 7000
        stats = await store.stats(S)
        assert stats is not None and stats.count == 7000
    finally:
        await store.close()


async def test_duplicates_inside_one_batch_keep_the_last(store: CandleStore) -> None:
    a = Candle(600, 1, 2, 0.5, 1.5, 1)
    b = Candle(600, 1, 3, 0.5, 2.5, 2)
    result = await store.upsert_many(S, [a, b])
    assert result.inserted == 1
    assert await store.newest(S, 10) == [b]


async def test_reads_since_before_newest(store: CandleStore) -> None:
    await store.upsert_many(S, bars(0, 100))
    assert [c[0] for c in await store.newest(S, 3)] == [97 * 60, 98 * 60, 99 * 60]
    assert [c[0] for c in await store.since(S, 10 * 60, 3)] == [660, 720, 780]
    assert [c[0] for c in await store.since(S, 99 * 60, 3)] == []
    assert [c[0] for c in await store.before(S, 10 * 60, 3)] == [420, 480, 540]
    assert [c[0] for c in await store.before(S, 0, 3)] == []
    assert await store.newest("binance:spot:ETH/USDT:1m", 10) == []
    assert await store.head_time("binance:spot:ETH/USDT:1m") is None


async def test_series_are_kept_apart(store: CandleStore) -> None:
    other = "binance:futures:BTC/USDT:USDT:1m"
    await store.upsert_many(S, bars(0, 10))
    await store.upsert_many(other, bars(6000, 3, base=5))
    listed = await store.list_series()
    assert [(s.series_id, s.count, s.first_time, s.head_time) for s in listed] == [
        (other, 3, 6000, 6120),
        (S, 10, 0, 540),
    ]


async def test_concurrent_writers_and_readers(store: CandleStore) -> None:
    async def write(i: int) -> None:
        await store.upsert_many(S, bars(60 * 100 * i, 100))

    async def read() -> int:
        return len(await store.newest(S, 5000))

    reads = await asyncio.gather(*(write(i) for i in range(20)), *(read() for _ in range(20)))
    assert all(0 <= n <= 2000 for n in reads[20:])
    stats = await store.stats(S)
    assert stats is not None and stats.count == 2000
    times = [c[0] for c in await store.newest(S, 5000)]
    assert times == sorted(set(times)) and len(times) == 2000


async def test_file_is_wal_with_schema_version_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    store = SqliteCandleStore(path, Metrics())
    await store.open()
    await store.upsert_many(S, bars(0, 3))
    await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        sql = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'candles'").fetchone()[0]
        assert "WITHOUT ROWID" in sql and "PRIMARY KEY (series_key, candle_time)" in sql
    reopened = SqliteCandleStore(path, Metrics())
    await reopened.open()
    try:
        assert len(await reopened.newest(S, 10)) == 3
        await reopened.upsert_many(S, bars(180, 1))
        stats = await reopened.stats(S)
        assert stats is not None and stats.count == 4
    finally:
        await reopened.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SqliteCandleStore(path, Metrics())
    with pytest.raises(StoreError, match="newer than this server"):
        await store.open()


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open candle store"):
        await SqliteCandleStore(path, Metrics()).open()


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "c.sqlite", Metrics())
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.upsert_many(S, bars(0, 1))
    with pytest.raises(StoreError, match="closed"):
        await store.newest(S, 1)


async def test_several_series_in_one_transaction(tmp_path: Path) -> None:
    metrics = Metrics()
    store = SqliteCandleStore(tmp_path / "c.sqlite", metrics)
    await store.open()
    try:
        batches = {f"binance:futures:S{i}/USDT:USDT:1m": bars(600, 3) for i in range(50)}
        results = await store.upsert_batches(batches)
        assert {r.inserted for r in results.values()} == {3}
        assert counter(metrics, "trade_canvas_db_commits_total") == 1
        assert len(await store.list_series()) == 50
        empty = await store.upsert_many(S, [])
        assert (empty.inserted, empty.head_time) == (0, None)
        assert counter(metrics, "trade_canvas_db_commits_total") == 1
    finally:
        await store.close()


async def test_a_batch_of_many_series_each_as_written_alone(store: CandleStore) -> None:
    """Live batches span series: some only after their head, some new, some meeting what
    is stored (a conflict among them), with extras; each series' result is what writing it
    alone would give."""
    after, new, meeting = (f"binance:futures:{b}/USDT:USDT:1m" for b in ("A", "B", "C"))
    await store.insert_batches({after: bars(600, 3), meeting: bars(600, 3)})
    changed = Candle(*bars(720, 1)[0][:4], 555.0, 5.0)
    said = {780: KlineExtras(780, 1.0, 2, 3.0, 4.0), 840: KlineExtras(840, 5.0, 6, 7.0, 8.0)}
    results = await store.insert_batches(
        {after: bars(780, 2), new: bars(60, 2), meeting: [changed, *bars(780, 2)]},
        {after: said, meeting: said},
    )
    assert (results[after].inserted, results[after].head_time, results[after].head_before) == (
        2, 840, 720,
    )  # fmt: skip
    assert list(results[after].written) == bars(780, 2)
    assert (results[new].inserted, results[new].head_time, results[new].head_before) == (
        2,
        120,
        None,
    )
    assert results[meeting].inserted == 2 and results[meeting].head_time == 840
    assert [c.offered for c in results[meeting].conflicts] == [changed]
    expected = bars(600, 3) + bars(780, 2)
    assert await store.newest(after, 10) == expected == await store.newest(meeting, 10)
    assert [(s.series_id, s.first_time, s.head_time, s.count) for s in await store.list_series()] == [
        (after, 600, 840, 5), (new, 60, 120, 2), (meeting, 600, 840, 5),
    ]  # fmt: skip
    for series in (after, meeting):
        assert dict((await store.page(series, 10, extras=True)).extras) == said


async def test_insert_keeps_what_is_stored_and_returns_what_differs(store: CandleStore) -> None:
    """The first value stored for a time stays: an equal one offered again is a no-op, a
    differing one comes back as a conflict; only new candles are `written`."""
    first = bars(T, 5)
    result = await store.insert_many(S, first)
    assert (result.inserted, list(result.written), result.conflicts) == (5, first, ())
    changed = Candle(T + 120, 99999.0, 99999.0, 1.0, 2.0, 3.0)
    offered = [first[1], changed, *bars(T + 300, 2)]
    result = await store.insert_many(S, offered)
    assert result.inserted == 2 and list(result.written) == bars(T + 300, 2)
    assert [(c.candle_time, c.stored, c.offered) for c in result.conflicts] == [
        (T + 120, tuple(first[2]), changed)
    ]
    assert await store.since(S, 0, 100) == first + bars(T + 300, 2)
    assert (await store.stats(S)).count == 7  # type: ignore[union-attr]


async def test_insert_keeps_the_first_of_a_time_offered_twice(store: CandleStore) -> None:
    a, b = Candle(T, 1.0, 2.0, 0.5, 1.5, 1.0), Candle(T, 9.0, 9.0, 9.0, 9.0, 9.0)
    result = await store.insert_many(S, [a, b])
    assert result.inserted == 1 and list(result.written) == [a]
    assert await store.since(S, 0, 10) == [a]


async def test_a_repeated_page_is_the_same_until_its_series_is_written(
    sqlite_store: SqliteCandleStore,
) -> None:
    store = sqlite_store
    """Repeated pages come from memory (the hot path of bots and charts), and every kind
    of write to the series (a close, history filled in behind the head, a correction)
    is seen by the next read; another series' writes are not."""
    candles = bars(600, 10)
    await store.insert_many(S, candles[:3] + candles[5:])
    first = await store.page(S, 100)
    again = await store.page(S, 100)
    assert again is first and again.version == first.version
    await store.insert_many("binance:spot:ETH/USDT:1m", bars(600, 3))
    assert await store.page(S, 100) is first

    await store.insert_many(S, candles[3:5])  # behind the head: the head does not move
    filled = await store.page(S, 100)
    assert filled.version != first.version and filled.candles == candles
    corrected = Candle(*candles[4][:4], 999.0, candles[4][5])
    await store.upsert_many(S, [corrected])
    page = await store.page(S, 100)
    assert page.candles[4] == corrected and page.version != filled.version
    assert first.candles == candles[:3] + candles[5:]  # a served page is never changed


async def test_extras_are_kept_with_their_candles_first_wins(store: CandleStore) -> None:
    candles = bars(600, 4)
    said = {c[0]: KlineExtras(c[0], 1000.0 + i, 10 + i, 1.5, 150.0) for i, c in enumerate(candles)}
    await store.insert_many(S, candles[:2])  # from a datadir: no extras
    other = Candle(*candles[1][:4], 777.0, candles[1][5])  # a conflict: kept out, extras too
    await store.insert_batches({S: [candles[0], other, *candles[2:]]}, {S: said})
    page = await store.page(S, 10, extras=True)
    assert page.candles == candles
    assert dict(page.extras) == {t: said[t] for t in (600, 720, 780)}
    # Offered again: the held extras stay; the datadir candle, now confirmed, gets its own.
    again = {t: KlineExtras(t, 1.0, 1, 1.0, 1.0) for t in said}
    await store.insert_batches({S: candles}, {S: again})
    held = dict((await store.page(S, 10, extras=True)).extras)
    assert held == {600: said[600], 660: again[660], 720: said[720], 780: said[780]}
    assert (await store.page(S, 10)).extras == {}  # only read when asked for


async def test_a_page_is_read_again_after_another_process_wrote_the_file(
    sqlite_store: SqliteCandleStore, tmp_path: Path
) -> None:
    store = sqlite_store
    """The `import` command may write the file while the server serves it."""
    await store.insert_many(S, bars(600, 3))
    first = await store.page(S, 100)
    assert await store.page(S, 100) is first
    other = SqliteCandleStore(tmp_path / "candles.sqlite", Metrics())  # as another process would
    await other.open()
    try:
        await other.insert_many(S, bars(780, 2))
    finally:
        await other.close()
    assert (await store.page(S, 100)).candles == bars(600, 3) + bars(780, 2)
