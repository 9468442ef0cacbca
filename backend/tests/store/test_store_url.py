"""`TRADE_CANVAS_STORE_URL`: the engine it names, and what a user gets wrong said in one line
(exit 2) with no password in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.candle import KlineExtras
from app.metrics import Metrics
from app.store import ImportProgress, build_store, describe_store
from app.store.postgres import PostgresCandleStore
from app.store.sqlite import SqliteCandleStore
from tests.conftest import SettingsFactory
from tests.postgres_cluster import running_cluster
from tests.support import LiveServer, live_server, poll


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
    environ.update({"TRADE_CANVAS_LIVE_INGEST": "0", "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
                    **env})  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "0"],
        env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_url_names_the_engine(tmp_path: Path) -> None:
    default = build_store(None, tmp_path / "a.sqlite", Metrics())
    assert isinstance(default, SqliteCandleStore) and default.path == tmp_path / "a.sqlite"
    named = build_store(f"sqlite:///{tmp_path}/b.sqlite", tmp_path / "a.sqlite", Metrics())
    assert isinstance(named, SqliteCandleStore) and named.path == tmp_path / "b.sqlite"
    shared = build_store("postgresql://tc:hunter2@db.lan/candles", tmp_path, Metrics())
    assert isinstance(shared, PostgresCandleStore)
    assert describe_store("postgresql://tc:hunter2@db.lan/candles", tmp_path) == (
        "PostgreSQL postgresql://tc:***@db.lan/candles"
    )
    assert describe_store(None, tmp_path / "a.sqlite") == f"SQLite {tmp_path / 'a.sqlite'}"


def test_an_unknown_engine_is_refused_in_one_line(tmp_path: Path) -> None:
    done = serve(tmp_path, TRADE_CANVAS_STORE_URL="mysql://tc:hunter2@db.lan/candles")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "TRADE_CANVAS_STORE_URL: Value error, a store URL starts with sqlite:/// or " in line
    assert "hunter2" not in done.stderr


def test_an_unreachable_postgresql_is_one_line_at_start(tmp_path: Path) -> None:
    nothing = tmp_path / "no-server-here"
    nothing.mkdir()
    url = f"postgresql://tc:hunter2@/candles?host={nothing}"
    done = serve(tmp_path, TRADE_CANVAS_STORE_URL=url)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("trade-canvas: cannot open candle store postgresql://tc:***@/candles"), (
        line
    )
    assert "hunter2" not in done.stderr


async def test_the_server_stores_in_postgresql(postgres_dsn: str, tmp_path: Path) -> None:
    """What one process wrote through the port, another reads: the database is shared."""
    writer = build_store(postgres_dsn, tmp_path, Metrics())
    reader = build_store(postgres_dsn, tmp_path, Metrics())
    await writer.open()
    await reader.open()
    try:
        candles = [(600 + 60 * i, 1.0, 2.0, 0.5, 1.5, 3.0) for i in range(5)]
        result = await writer.insert_many("binance:spot:BTC/USDT:1m", candles)
        assert (result.inserted, result.head_time) == (5, 840)
        assert await reader.newest("binance:spot:BTC/USDT:1m", 10) == candles
        assert [s.count for s in await reader.list_series()] == [5]
    finally:
        await writer.close()
        await reader.close()


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "migrate-store", *args],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


async def test_migrate_store_copies_resumes_and_verifies(postgres_dsn: str, tmp_path: Path) -> None:
    """SQLite to PostgreSQL: every series with its extras and import marker; a copy cut
    short resumes after what the target holds; a target holding what the source lacks is
    reported (exit 1)."""
    a, b, c = (f"binance:spot:{p}:1m" for p in ("BTC/USDT", "ETH/USDT", "SOL/USDT"))
    long = [(60 * i, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 3.0) for i in range(50_000)]
    extras = {t: KlineExtras(t, 10.0, 7, 1.0, 2.0) for t, *_ in long[-10:]}
    source = SqliteCandleStore(tmp_path / "source.sqlite", Metrics())
    await source.open()
    await source.insert_many(a, long, extras=extras)
    await source.insert_many(
        b, long[:300], progress=ImportProgress("file-sig", 299 * 60, True, 300)
    )
    await source.insert_many(c, long[:10])
    await source.close()
    target = PostgresCandleStore(postgres_dsn, Metrics())
    await target.open()
    try:
        await target.insert_many(a, long[:20_000])  # as a copy cut short would have left it
        done = migrate("--from", f"sqlite:///{tmp_path / 'source.sqlite'}", "--to", postgres_dsn)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "3 series, 30,310 candles copied" in done.stdout
        assert "postgres@" in done.stdout and "SQLite" in done.stdout
        assert await target.newest(a, 50_000) == long
        assert dict((await target.page(a, 10, extras=True)).extras) == extras
        assert await target.newest(b, 1000) == long[:300]
        assert await target.import_progress(b) == ImportProgress("file-sig", 299 * 60, True, 300)

        again = migrate("--from", f"sqlite:///{tmp_path / 'source.sqlite'}", "--to", postgres_dsn)
        assert again.returncode == 0 and "3 series, 0 candles copied" in again.stdout

        await target.insert_many(c, [(60 * 50_000, 1.0, 1.0, 1.0, 1.0, 1.0)])  # not the source's
        wrong = migrate("--from", f"sqlite:///{tmp_path / 'source.sqlite'}", "--to", postgres_dsn)
        assert wrong.returncode == 1
        assert f"{c}: target holds 11 candles up to 3000000, source 10 up to 540" in wrong.stdout
    finally:
        await target.close()


async def test_a_fresh_import_is_read_by_index_not_sorted(postgres_dsn: str) -> None:
    """Without statistics PostgreSQL took a just-imported table for an empty one and sorted
    the whole series to return a page; the store analyzes after large writes."""
    import asyncpg

    store = PostgresCandleStore(postgres_dsn, Metrics())
    await store.open()
    try:
        candles = [(60 * i, 1.0, 2.0, 0.5, 1.5, 3.0) for i in range(30_000)]
        for i in range(0, len(candles), 5_000):
            await store.insert_many("binance:spot:BTC/USDT:1m", candles[i : i + 5_000])
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_dsn)
    try:
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT candle_time, open, high, low, close, volume FROM candles "
                "WHERE series_key = 1 "
                "AND candle_time < $1 ORDER BY candle_time DESC LIMIT 500",
                60 * 20_000,
            )
        )
    finally:
        await conn.close()
    assert "Index Scan Backward" in plan and "Sort" not in plan, plan


async def test_without_timescaledb_candles_stay_a_plain_table(postgres_dsn: str) -> None:
    """The hypertable is taken only where the extension is installed and preloaded; Debian's
    PostgreSQL has neither, and the store opens, writes and reads the same."""
    import asyncpg

    store = PostgresCandleStore(postgres_dsn, Metrics())
    await store.open()
    try:
        assert store.hypertable is False
        await store.insert_many("binance:spot:ETH/USDT:1m", [(60, 1.0, 2.0, 0.5, 1.5, 3.0)])
        assert await store.newest("binance:spot:ETH/USDT:1m", 10) == [(60, 1.0, 2.0, 0.5, 1.5, 3.0)]
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_dsn)
    try:
        extensions = {r[0] for r in await conn.fetch("SELECT extname FROM pg_extension")}
    finally:
        await conn.close()
    assert "timescaledb" not in extensions


@pytest.mark.postgres  # starts a cluster of its own
async def test_postgresql_restarted_under_the_server(make_settings: SettingsFactory) -> None:
    """Lost while serving: reads are 503 `store_unavailable` and `/ready` degraded with the
    reason; back: the pool reconnects by itself, reads and writes resume, nothing lost."""
    series = "binance:spot:BTC/USDT:1m"
    with running_cluster() as cluster:
        async with live_server(make_settings(store_url=cluster.dsn)) as s:
            for t in (600, 660):
                await ingest(s, series, t)
            assert [c["candle_time"] for c in await candles(s, series)] == [600, 660]
            cluster.stop()
            lost = await s.http.get("/api/market/candles", params={"series_id": series})
            assert lost.status_code == 503 and lost.json()["error_code"] == "store_unavailable"
            ready = (await s.http.get("/ready")).json()
            assert ready["status"] == "degraded", ready
            assert "the database cannot be reached" in ready["problems"][0]
            cluster.start()

            async def back() -> bool:
                r = await s.http.get("/api/market/candles", params={"series_id": series})
                return r.status_code == 200

            await poll(back, "reads to come back", timeout=30, every=0.2)
            assert (await s.http.get("/ready")).json() == {"status": "ready"}
            await ingest(s, series, 720)
            assert [c["candle_time"] for c in await candles(s, series)] == [600, 660, 720]


async def ingest(s: LiveServer, series: str, t: int) -> None:
    candle = {"candle_time": t, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0}
    r = await s.http.post(
        "/api/market/ingest/candle_closed", json={"series_id": series, "candle": candle}
    )
    assert r.status_code == 200, r.text


async def candles(s: LiveServer, series: str) -> list[dict[str, float]]:
    r = await s.http.get("/api/market/candles", params={"series_id": series})
    assert r.status_code == 200, r.text
    result: list[dict[str, float]] = r.json()["candles"]
    return result
