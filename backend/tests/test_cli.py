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
