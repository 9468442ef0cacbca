"""The `trade-canvas` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.freqtrade_support import DATADIR


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite")}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
    )


def stored(tmp_path: Path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        return dict(db.execute("SELECT series_id, row_count FROM series").fetchall())


def test_datadir_ls_lists_files_and_problems(tmp_path: Path) -> None:
    done = run(tmp_path, "datadir", "ls", "--datadir", str(DATADIR), "--json")
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    by_name = {Path(e["path"]).name: e for e in entries}
    assert by_name["ETH_BTC-5m.feather"]["series_id"] == "binance:spot:ETH/BTC:5m"
    assert "not a Binance kline interval" in by_name["UNITTEST_BTC-8m.feather"]["problem"]
    text = run(tmp_path, "datadir", "ls", "--datadir", str(DATADIR))
    assert "binance:futures:XRP/USDT:USDT:1h" in text.stdout and "26 OHLCV files" in text.stdout


def test_import_series_with_progress_and_summary(tmp_path: Path) -> None:
    done = run(
        tmp_path, "import", "--datadir", str(DATADIR),
        "--series", "binance:spot:UNITTEST/BTC:1m", "binance:futures:XRP/USDT:USDT:5m",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rows/s" in done.stdout and "ETA" in done.stdout
    assert "13681" in done.stdout and "imported" in done.stdout
    assert stored(tmp_path) == {
        "binance:spot:UNITTEST/BTC:1m": 13681,
        "binance:futures:XRP/USDT:USDT:5m": 1999,
    }
    again = run(tmp_path, "import", "--datadir", str(DATADIR), "--series",
                "binance:spot:UNITTEST/BTC:1m")  # fmt: skip
    assert again.returncode == 0
    assert stored(tmp_path)["binance:spot:UNITTEST/BTC:1m"] == 13681


def test_import_all(tmp_path: Path) -> None:
    done = run(tmp_path, "import", "--datadir", str(DATADIR), "--all")
    assert done.returncode == 0, done.stderr
    assert len(stored(tmp_path)) == 17


def test_import_reports_a_missing_series_and_fails(tmp_path: Path) -> None:
    done = run(tmp_path, "import", "--datadir", str(DATADIR), "--series", "binance:spot:NO/PE:1m")
    assert done.returncode == 1
    assert "missing" in done.stdout


def test_import_needs_series_or_all(tmp_path: Path) -> None:
    done = run(tmp_path, "import", "--datadir", str(DATADIR))
    assert done.returncode == 2 and "--series ID ... or --all" in done.stderr
    bad = run(tmp_path, "import", "--series", "binance:spot:BTCUSDT:1m")
    assert bad.returncode == 2 and "BASE/QUOTE" in bad.stderr


def test_serve_demo_works_offline(tmp_path: Path) -> None:
    """`serve --demo`: a local Binance, the datadir filled by the real freqtrade
    download-data, the whitelisted pairs live."""
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite"),
        "TRADE_CANVAS_FREQTRADE_DATADIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--demo", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        live: set[str] = set()
        while time.monotonic() < deadline and len(live) < 3:
            try:
                listing = httpx.get(f"http://127.0.0.1:{port}/api/market/series").json()
                live = {e["series_id"] for e in listing["series"] if e["live"] and e["count"]}
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert live == {
            "binance:spot:BTC/USDT:1m",
            "binance:spot:ETH/USDT:1m",
            "binance:futures:BTC/USDT:USDT:1m",
        }
        assert (tmp_path / "data" / "BTC_USDT-1m.feather").exists()
        assert (tmp_path / "data" / "futures" / "BTC_USDT_USDT-1m-futures.feather").exists()
    finally:
        proc.terminate()
        proc.wait(30)
