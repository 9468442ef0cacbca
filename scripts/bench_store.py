"""Store benchmark: PostgreSQL beside SQLite, in one run on one machine.

- import: candles written through the store port in batches of 5,000 (as a datadir import
  does), on each engine, against the SQLite floor (one bare `executemany` in one
  transaction, no checks): the issue's target is PostgreSQL at 0.35 of that floor or more;
- GET p50: `GET /api/market/candles?limit=500&before=<t>` on the real server of each
  engine, `before` moving each request so that no cache answers, one client at a time.

PostgreSQL is a throwaway cluster (Debian's `postgresql` binaries, `initdb` in a temporary
directory, a unix socket), as the tests start it.

    .venv/bin/python scripts/bench_store.py [--rows 1000000] [--requests 500]

Prints a table and writes output/bench/store.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_common import ROOT, free_port, percentile, print_table, server_process, write_report
from bench_core import SERIES, T0, make_candles
from bench_core import bench_floor as sqlite_floor

from app.candle import Candle
from app.metrics import Metrics
from app.store import CandleStore
from app.store.postgres import PostgresCandleStore
from app.store.sqlite import SqliteCandleStore

sys.path.insert(0, str(ROOT / "backend"))
from tests.postgres_cluster import create_database, postgres_cluster

BATCH = 5_000


async def port_import(store: CandleStore, candles: list[Candle]) -> float:
    await store.open()
    try:
        started = time.perf_counter()
        for i in range(0, len(candles), BATCH):
            await store.insert_many(SERIES, candles[i : i + BATCH])
        return time.perf_counter() - started
    finally:
        await store.close()


def get_p50(env: dict[str, str], rows: int, requests: int) -> dict[str, float]:
    port = free_port()
    rng = random.Random(7)
    latencies: list[float] = []
    with server_process(env, port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        url = "/api/market/candles"
        for i in range(requests + 20):
            before = T0 + 60 * rng.randrange(1_000, rows)
            started = time.perf_counter()
            r = http.get(url, params={"series_id": SERIES, "limit": 500, "before": before})
            elapsed = time.perf_counter() - started
            assert r.status_code == 200 and len(r.json()["candles"]) == 500, r.text[:200]
            if i >= 20:  # the first ones warm connections and caches of the engine itself
                latencies.append(elapsed)
    return {
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    candles = make_candles(args.rows)
    with tempfile.TemporaryDirectory() as tmp_name, postgres_cluster() as admin:
        tmp = Path(tmp_name)
        floor_s = sqlite_floor(tmp / "floor.sqlite", candles)
        sqlite_db = tmp / "port.sqlite"
        sqlite_s = asyncio.run(port_import(SqliteCandleStore(sqlite_db, Metrics()), candles))
        create_database(admin, "bench")
        dsn = admin.replace("/postgres?", "/bench?")
        postgres_s = asyncio.run(port_import(PostgresCandleStore(dsn, Metrics()), candles))
        common = {"TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off", "TRADE_CANVAS_LIVE_INGEST": "0"}
        get_sqlite = get_p50({**common, "TRADE_CANVAS_DB_PATH": str(sqlite_db)}, args.rows,
                             args.requests)  # fmt: skip
        get_postgres = get_p50({**common, "TRADE_CANVAS_STORE_URL": dsn}, args.rows, args.requests)
    rate = {k: args.rows / s for k, s in
            (("floor", floor_s), ("sqlite", sqlite_s), ("postgres", postgres_s))}  # fmt: skip
    report: dict[str, Any] = {
        "rows": args.rows,
        "batch": BATCH,
        "import_rows_per_s": {k: round(v) for k, v in rate.items()},
        "postgres_import_vs_sqlite_floor": round(rate["postgres"] / rate["floor"], 3),
        "sqlite_import_vs_sqlite_floor": round(rate["sqlite"] / rate["floor"], 3),
        "get_before_limit_500": {"sqlite": get_sqlite, "postgres": get_postgres},
        "postgres_get_p50_vs_sqlite": round(get_postgres["p50_ms"] / get_sqlite["p50_ms"], 2),
    }
    print_table(
        [
            ["import rows/s (floor: bare executemany)", f"{rate['sqlite']:,.0f}",
             f"{rate['postgres']:,.0f}",
             f"PG {report['postgres_import_vs_sqlite_floor']} of floor {rate['floor']:,.0f}"],
            ["GET limit=500 before=<random> p50 ms", get_sqlite["p50_ms"],
             get_postgres["p50_ms"], f"{report['postgres_get_p50_vs_sqlite']}x"],
            ["GET p99 ms", get_sqlite["p99_ms"], get_postgres["p99_ms"], ""],
        ],
        ["measure", "SQLite", "PostgreSQL", "ratio"],
    )  # fmt: skip
    write_report("store", report)


if __name__ == "__main__":
    main()
