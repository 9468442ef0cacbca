"""History benchmark: datadir import throughput against the floor and the naive way, the
first-request latency of a never-seen series, and the server's peak memory meanwhile.

    .venv/bin/python scripts/bench_history.py [--rows 2000000] [--first-rows 1000000]

Prints a table and writes output/bench/history.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow.feather as feather
from bench_common import free_port, print_table, server_process, write_report
from freqtrade.data.history.datahandlers import get_datahandler
from freqtrade.enums import CandleType

from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import Datadirs
from app.metrics import Metrics
from app.roots.writing import import_writer
from app.series import parse_series_id
from app.store.sqlite import SqliteCandleStore
from app.store.sqlite.schema import connect as sqlite_connect
from app.store.sqlite.schema import migrate

T0 = 1_500_000_000 - 1_500_000_000 % 60


def write_datadir(datadir: Path, pair: str, rows: int) -> Path:
    """A 1m file as `freqtrade download-data` writes it: freqtrade's own feather handler."""
    i = np.arange(rows, dtype=np.int64)
    price = 100 + 10 * np.sin(i / 5000.0)
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(T0 + 60 * i, unit="s", utc=True),
            "open": price,
            "high": price + 0.5,
            "low": price - 0.5,
            "close": price + 0.25,
            "volume": 1.0 + (i % 13),
        }
    )
    get_datahandler(datadir, "feather").ohlcv_store(pair, "1m", df, CandleType.SPOT)
    return datadir / f"{pair.replace('/', '_')}-1m.feather"


def bench_floor(path: Path, db: Path) -> float:
    """pyarrow read plus a plain executemany of ready tuples in one transaction."""
    started = time.perf_counter()
    table = feather.read_table(path)
    read_s = time.perf_counter() - started
    times = table.column("date").cast("int64").to_numpy() // 1000
    tuples = list(
        zip(
            times.tolist(),
            *(
                table.column(c).to_numpy().tolist()
                for c in ("open", "high", "low", "close", "volume")
            ),
            strict=True,
        )
    )
    conn = sqlite_connect(str(db))
    migrate(conn)
    conn.execute("INSERT INTO series (series_key, series_id) VALUES (1, 'x')")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO candles (series_key, candle_time, open, high, low, close, volume) "
        "VALUES (1, ?, ?, ?, ?, ?, ?)",
        tuples,
    )
    conn.execute("COMMIT")
    write_s = time.perf_counter() - started
    conn.close()
    return read_s + write_s


def bench_naive(db: Path, sample: int, *, tuned: bool) -> float:
    """One commit per candle. Untuned is what `sqlite3.connect()` gives (rollback journal,
    synchronous=FULL); tuned uses the store's own WAL pragmas."""
    conn = sqlite_connect(str(db)) if tuned else sqlite3.connect(db, isolation_level=None)
    migrate(conn)
    conn.execute("INSERT INTO series (series_key, series_id) VALUES (1, 'x')")
    started = time.perf_counter()
    for i in range(sample):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO candles VALUES (1, ?, 1.0, 2.0, 0.5, 1.5, 3.0)", (T0 + 60 * i,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def bench_import(datadir: Path, db: Path) -> tuple[float, int]:
    metrics = Metrics()
    store = SqliteCandleStore(db, metrics)
    await store.open()
    bootstrapper = HistoryBootstrapper(
        store,
        import_writer(store),
        BootstrapOptions(
            datadirs=Datadirs(datadir), preferred_format=None, batch_size=5000, recheck_s=0,
            wait_s=float("inf"), min_candles=0,
        ),
        HistoryMetrics(metrics),
    )  # fmt: skip
    started = time.perf_counter()
    await bootstrapper.ensure(parse_series_id("binance:spot:BIG/USDT:1m"), complete=True)
    elapsed = time.perf_counter() - started
    stats = await store.stats("binance:spot:BIG/USDT:1m")
    await store.close()
    return elapsed, stats.count if stats else 0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_first_request(tmp: Path, rows: int) -> dict[str, Any]:
    datadir = tmp / "first-datadir"
    write_datadir(datadir, "FIRST/USDT", rows)
    port = free_port()
    env = {
        "TRADE_CANVAS_DB_PATH": str(tmp / "first.sqlite"),
        "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "freqtrade",
        "TRADE_CANVAS_FREQTRADE_DATADIR": str(datadir),
        "TRADE_CANVAS_HISTORY_DOWNLOAD": "0",
    }
    sid = "binance:spot:FIRST/USDT:1m"
    with (
        server_process(env, port) as proc,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
    ):
        baseline_mb = peak_rss_mb(proc.pid)
        started = time.perf_counter()
        r = http.get("/api/market/candles", params={"series_id": sid, "limit": 2000})
        first_s = time.perf_counter() - started
        body = r.json()
        assert r.status_code == 200 and len(body["candles"]) == 2000
        progress = []
        while True:
            listing = http.get("/api/market/series").json()["series"]
            entry = next(e for e in listing if e["series_id"] == sid)
            progress.append((round(time.perf_counter() - started, 2), entry["count"]))
            if entry["count"] >= rows:
                break
            time.sleep(0.2)
        converged_s = time.perf_counter() - started
        peak_mb = peak_rss_mb(proc.pid)
    # The same store and file after a restart: the import is complete and the file unchanged.
    with (
        server_process(env, port) as proc,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
    ):
        restart_baseline_mb = peak_rss_mb(proc.pid)
        started = time.perf_counter()
        r = http.get("/api/market/candles", params={"series_id": sid, "limit": 2000})
        restart_s = time.perf_counter() - started
        assert r.status_code == 200 and len(r.json()["candles"]) == 2000
        return {
            "rows": rows,
            "first_request_s": round(first_s, 3),
            "first_request_candles": len(body["candles"]),
            "server_head_time_is_last": body["server_head_time"] == T0 + 60 * (rows - 1),
            "store_converged_s": round(converged_s, 2),
            "progress_samples": progress[:: max(1, len(progress) // 8)],
            "server_peak_rss_mb": round(peak_mb, 1),
            "server_rss_before_mb": round(baseline_mb, 1),
            "after_restart_first_request_s": round(restart_s, 3),
            "after_restart_rss_before_mb": round(restart_baseline_mb, 1),
            "after_restart_peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
            "target_first_request_s": 3.0,
            "target_peak_rss_mb": 400,
        }


def bench_imports(tmp: Path, rows: int, naive_sample: int) -> dict[str, Any]:
    datadir = tmp / "datadir"
    path = write_datadir(datadir, "BIG/USDT", rows)
    floor_s = bench_floor(path, tmp / "floor.sqlite")
    scale = rows / naive_sample
    naive_s = bench_naive(tmp / "naive.sqlite", naive_sample, tuned=False) * scale
    tuned_s = bench_naive(tmp / "naive-wal.sqlite", naive_sample, tuned=True) * scale
    import_s, imported = asyncio.run(bench_import(datadir, tmp / "import.sqlite"))
    assert imported == rows, imported
    i = {
        "rows": rows,
        "floor_s": round(floor_s, 3),
        "import_s": round(import_s, 3),
        "naive_extrapolated_s": round(naive_s, 1),
        "naive_wal_extrapolated_s": round(tuned_s, 1),
        "ratio_to_floor": round(floor_s / import_s, 3),
        "times_faster_than_naive": round(naive_s / import_s, 1),
        "times_faster_than_naive_wal": round(tuned_s / import_s, 1),
        "target_ratio_to_floor": 0.7,
        "target_times_naive": 100,
    }
    print(f"\nimport of a {rows:,}-row 1m feather file into an empty store")
    print_table(
        [
            ["floor: pyarrow read + executemany, one transaction", i["floor_s"], ""],
            ["HistoryBootstrapper (read, clean, batches of 5000)", i["import_s"],
             i["ratio_to_floor"]],
            [f"naive: commit per candle, sqlite3 defaults ({naive_sample:,} rows, "
             "extrapolated)", i["naive_extrapolated_s"], ""],
            ["naive: commit per candle, the store's WAL pragmas (extrapolated)",
             i["naive_wal_extrapolated_s"], ""],
        ],
        ["what", "seconds", "ratio to floor"],
    )  # fmt: skip
    print(
        f"{i['times_faster_than_naive']}x the naive way "
        f"({i['times_faster_than_naive_wal']}x a naive writer on WAL)"
    )
    return i


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--first-rows", type=int, default=1_000_000)
    parser.add_argument("--naive-sample", type=int, default=20_000)
    parser.add_argument(
        "--only-first-request", action="store_true", help="skip the import measurements"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.only_first_request:
            report["import"] = bench_imports(tmp, args.rows, args.naive_sample)
        report["first_request"] = bench_first_request(tmp, args.first_rows)
        f = report["first_request"]
        print(f"\nfirst GET limit=2000 of a never-seen series, {f['rows']:,}-row file")
        print_table(
            [[f["first_request_s"], f["store_converged_s"], f["server_rss_before_mb"],
              f["server_peak_rss_mb"]]],
            ["first request s", "store converged s", "RSS before MB", "peak RSS MB"],
        )  # fmt: skip
        print("\nthe same GET after a restart (import complete, file unchanged)")
        print_table(
            [[f["after_restart_first_request_s"], f["after_restart_rss_before_mb"],
              f["after_restart_peak_rss_mb"]]],
            ["first request s", "RSS before MB", "peak RSS MB"],
        )  # fmt: skip
    path_out = write_report("history", report)
    print(f"\nwrote {path_out}")


if __name__ == "__main__":
    main()
