"""`TRADE_CANVAS_STORE_URL`: the engine it names, and what a user gets wrong said in one line
(exit 2) with no password in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.metrics import Metrics
from app.store import build_store, describe_store
from app.store.postgres import PostgresCandleStore
from app.store.sqlite import SqliteCandleStore


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
        "PostgreSQL postgresql://tc@db.lan/candles"
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
    assert line.startswith("trade-canvas: cannot open candle store postgresql://tc@/candles"), line
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
