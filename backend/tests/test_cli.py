"""The `trade-canvas` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.freqtrade_support import DATADIR, freqtrade_rows


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


def test_import_reads_each_venues_own_datadir(tmp_path: Path) -> None:
    """freqtrade keeps a datadir per exchange: with Binance's named, Bybit's series come
    from its sibling `bybit/`, and a file there never stands in for Binance's pair."""
    data = tmp_path / "data"
    (data / "binance").mkdir(parents=True)
    bybit = data / "bybit"
    (bybit / "futures").mkdir(parents=True)
    shutil.copy(DATADIR / "ETH_BTC-5m.feather", bybit)
    shutil.copy(DATADIR / "UNITTEST_BTC-8m.feather", bybit)  # Bybit has no 8m either
    shutil.copy(DATADIR / "futures" / "XRP_USDT_USDT-5m-futures.feather", bybit / "futures")

    done = run(tmp_path, "import", "--datadir", str(data / "binance"), "--series",
               "bybit:spot:ETH/BTC:5m", "bybit:futures:XRP/USDT:USDT:5m")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    counts = stored(tmp_path)
    assert counts == {
        "bybit:spot:ETH/BTC:5m": len(freqtrade_rows(bybit, "ETH/BTC", "5m", "feather")),
        "bybit:futures:XRP/USDT:USDT:5m": len(
            freqtrade_rows(bybit, "XRP/USDT:USDT", "5m", "feather", "futures")
        ),
    }
    missing = run(tmp_path, "import", "--datadir", str(data / "binance"), "--series",
                  "binance:spot:ETH/BTC:5m")  # fmt: skip
    assert missing.returncode == 1 and "missing" in missing.stdout

    listing = run(tmp_path, "datadir", "ls", "--datadir", str(bybit), "--json")
    problems = {Path(e["path"]).name: e["problem"] for e in json.loads(listing.stdout)}
    assert problems["ETH_BTC-5m.feather"] is None
    assert "not a Bybit kline interval" in problems["UNITTEST_BTC-8m.feather"]


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
    """`serve --demo`: a local Binance and a local Bybit, each venue's datadir filled by
    the real freqtrade download-data, the whitelisted pairs of both live."""
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite"),
        "TRADE_CANVAS_FREQTRADE_DATADIR": str(tmp_path / "data" / "binance"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--demo", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 150
        live: set[str] = set()
        while time.monotonic() < deadline and len(live) < 5:
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
            "bybit:spot:BTC/USDT:1m",
            "bybit:futures:ETH/USDT:USDT:1m",
        }
        data = tmp_path / "data"
        files = [
            data / "binance" / "BTC_USDT-1m.feather",
            data / "binance" / "futures" / "BTC_USDT_USDT-1m-futures.feather",
            data / "bybit" / "BTC_USDT-1m.feather",
            data / "bybit" / "futures" / "ETH_USDT_USDT-1m-futures.feather",
        ]
        # A series goes live (and fills from REST) while its download may still be running.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not all(f.exists() for f in files):
            time.sleep(0.5)
        assert [f for f in files if not f.exists()] == []
    finally:
        proc.terminate()
        proc.wait(30)


def serve_with(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", *args],
        env={**os.environ, "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite"), **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        ({"TRADE_CANVAS_PORT": "99999"}, (), "TRADE_CANVAS_PORT"),
        ({"TRADE_CANVAS_PORT": "http"}, (), "TRADE_CANVAS_PORT"),
        ({}, ("--port", "70000"), "TRADE_CANVAS_PORT"),
        ({"TRADE_CANVAS_HISTORY_WAIT_S": "-1"}, (), "TRADE_CANVAS_HISTORY_WAIT_S"),
        ({"TRADE_CANVAS_HISTORY_RECHECK_S": "inf"}, (), "TRADE_CANVAS_HISTORY_RECHECK_S"),
        ({"TRADE_CANVAS_BINANCE_WS_FLUSH_S": "inf"}, (), "TRADE_CANVAS_BINANCE_WS_FLUSH_S"),
        ({"TRADE_CANVAS_BINANCE_WS_FLUSH_S": "nan"}, (), "TRADE_CANVAS_BINANCE_WS_FLUSH_S"),
        ({"TRADE_CANVAS_WHITELIST": "binance:spot:BTCUSDT:1m"}, (), "TRADE_CANVAS_WHITELIST"),
        ({"TRADE_CANVAS_INGEST_TOKEN": "s3cr€t"}, (), "TRADE_CANVAS_INGEST_TOKEN"),
        ({"TRADE_CANVAS_FREQTRADE_CONFIG": "/nonexistent/config.json"}, (), "freqtrade config"),
        ({"TRADE_CANVAS_FREQTRADE_CONFIG": "{bad}"}, (), "freqtrade config"),
        ({"TRADE_CANVAS_DB_PATH": "/proc/no/store.sqlite"}, (), "candle store"),
        ({"TRADE_CANVAS_DB_PATH": "{dir}"}, (), "candle store"),
        ({"TRADE_CANVAS_HOST": "256.1.1.1"}, (), "cannot listen"),
    ],
)
def test_configuration_errors_end_with_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], args: tuple[str, ...], says: str
) -> None:
    bad_config = tmp_path / "config.json"
    bad_config.write_text('{"exchange": ')
    env = {
        k: v.replace("{bad}", str(bad_config)).replace("{dir}", str(tmp_path))
        for k, v in env.items()
    }
    done = serve_with(tmp_path, env, *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trade-canvas: "), done.stderr
    assert says in lines[0]
    assert "Traceback" not in done.stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = serve_with(tmp_path, {}, "--port", str(port))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"trade-canvas: cannot listen on 127.0.0.1:{port}")


def test_db_path_with_hash_and_question_mark_opens_exactly_that_file(tmp_path: Path) -> None:
    db = tmp_path / "a#b?c=d.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "app", "import", "--datadir", str(DATADIR),
         "--series", "binance:spot:ETH/BTC:5m"],
        env={**os.environ, "TRADE_CANVAS_DB_PATH": str(db)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Nothing else was created: not `a` (the URI would have cut the name at `#`).
    assert {p.name for p in tmp_path.iterdir()} <= {
        "a#b?c=d.sqlite",
        "a#b?c=d.sqlite-wal",
        "a#b?c=d.sqlite-shm",
    }
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM candles").fetchone()[0] > 0
