"""Each engine keeps a series' holes as candles are written (issue 34): after any mix of
inserts, upserts and many-series batches, `holes()` equals the holes found by walking every
stored candle, and a store written before holes were kept has them found once at open."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app.candle import CandleRow
from app.metrics import Metrics
from app.store import CandleStore
from app.store.holes import holes_between
from app.store.postgres import PostgresCandleStore
from app.store.sqlite import SqliteCandleStore

S = "binance:spot:BTC/USDT:1m"
OTHER = "binance:spot:ETH/USDT:1h"
T = 1_700_002_800  # a 1h (and 1m) open


def row(t: int) -> CandleRow:
    return (t, 1.0, 2.0, 0.5, 1.5, float(t % 97))


def build(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> CandleStore:
    if engine == "postgres":
        return PostgresCandleStore(request.getfixturevalue("postgres_dsn"), Metrics())
    return SqliteCandleStore(tmp_path / "candles.sqlite", Metrics())


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CandleStore]:
    s = build(request.param, request, tmp_path)
    await s.open()
    yield s
    await s.close()


async def walked(store: CandleStore, series_id: str, timeframe: str) -> list[tuple[int, int]]:
    times = [c[0] for c in (await store.page(series_id, 100_000, since=-1)).candles]
    return holes_between(times, timeframe)


async def test_holes_are_kept_through_any_writes(store: CandleStore) -> None:
    rng = random.Random(34)
    for _ in range(60):
        minutes = rng.sample(range(400), rng.randint(1, 12))
        hours = rng.sample(range(100), rng.randint(1, 4))
        batch = [row(T + 60 * m) for m in minutes]
        match rng.randrange(3):
            case 0:
                await store.insert_many(S, batch)
            case 1:
                await store.upsert_many(S, batch)
            case _:
                await store.insert_batches({S: batch, OTHER: [row(T + 3600 * h) for h in hours]})
    assert await store.holes(S) == await walked(store, S, "1m")
    assert await store.holes(OTHER) == await walked(store, OTHER, "1h")
    stats = await store.stats(S)
    assert stats is not None and stats.holes == len(await store.holes(S)) > 0
    listed = {s.series_id: s.holes for s in await store.list_series()}
    assert listed[S] == stats.holes


async def test_filling_a_hole_removes_it(store: CandleStore) -> None:
    await store.insert_many(S, [row(T), row(T + 60), row(T + 600)])
    assert await store.holes(S) == [(T + 60, T + 600)]
    await store.insert_many(S, [row(T + 60 * i) for i in range(2, 10)])
    assert await store.holes(S) == []
    assert (await store.stats(S)).holes == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_a_store_written_before_has_its_holes_found_at_open(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = build(engine, request, tmp_path)
    await store.open()
    await store.insert_many(S, [row(T + 60 * i) for i in (0, 1, 5, 6, 7, 20)])
    await store.close()
    # As a store of the version before: no holes table.
    if isinstance(store, SqliteCandleStore):
        conn = sqlite3.connect(tmp_path / "candles.sqlite")
        conn.execute("DROP TABLE holes")
        conn.execute("DROP TABLE series_sources")
        conn.execute("PRAGMA user_version = 4")
        conn.commit()
        conn.close()
    else:
        assert isinstance(store, PostgresCandleStore)
        conn = await asyncpg.connect(store.dsn)
        await conn.execute("DROP TABLE holes")
        await conn.execute("DROP TABLE series_sources")
        await conn.execute("UPDATE tc_schema SET version = 3")
        await conn.close()
    again = build(engine, request, tmp_path)
    await again.open()
    try:
        assert await again.holes(S) == [(T + 60, T + 300), (T + 420, T + 1200)]
    finally:
        await again.close()


async def test_funding_events_far_apart_lack_nothing(store: CandleStore) -> None:
    """A funding rate has a row only where the venue paid one (every 8 h, filed at 1h): no
    holes between them, whatever the writes, while a 1h candle series with the same times
    has one between each two (issue 36)."""
    funding, candles = "binance:funding_rate:BTC/USDT:USDT:1h", "binance:mark:BTC/USDT:USDT:1h"
    events = [row(T + 8 * 3_600 * i) for i in range(0, 12, 2)]
    for series_id in (funding, candles):
        await store.insert_many(series_id, events[2:4])
        await store.upsert_many(series_id, events[4:])
        await store.insert_batches({series_id: events[:2]})
    assert await store.holes(funding) == []
    assert len(await store.holes(candles)) == len(events) - 1
    stats = {s.series_id: s for s in await store.list_series()}
    assert stats[funding].holes == 0 and stats[funding].count == len(events)
