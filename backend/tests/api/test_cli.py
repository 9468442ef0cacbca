"""The `trade-canvas` command line, run as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.freqtrade_support import freqtrade_rows
from tests.recorded import DATADIR


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
    assert by_name["ETH_BTC-5m.feather"]["candles"] == 5760
    assert by_name["ETH_BTC-5m.feather"]["stored"] is None
    text = run(tmp_path, "datadir", "ls", "--datadir", str(DATADIR))
    assert "binance:futures:XRP/USDT:USDT:1h" in text.stdout and "26 OHLCV files" in text.stdout


def test_datadir_ls_shows_from_to_candles_and_what_is_stored(tmp_path: Path) -> None:
    imported = run(tmp_path, "import", "--datadir", str(DATADIR),
                   "--series", "binance:spot:ETH/BTC:5m")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    done = run(tmp_path, "datadir", "ls", "--datadir", str(DATADIR))
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if line.startswith("series"))
    assert header.split() == ["series", "format", "from", "to", "candles", "holes", "stored",
                              "stored-holes", "status"]  # fmt: skip
    row = next(line for line in done.stdout.splitlines() if "binance:spot:ETH/BTC:5m" in line)
    assert row.split() == ["binance:spot:ETH/BTC:5m", "feather", "2018-01-10", "04:55",
                           "2018-01-30", "04:50", "5,760", "0", "5,760", "0", "ok"]  # fmt: skip
    ada = next(line for line in done.stdout.splitlines() if "binance:spot:ADA/BTC:5m" in line)
    assert ada.split()[-2:] == ["-", "ok"]  # not imported


def test_datadir_ls_of_a_missing_or_wrong_directory_says_where_to_look(tmp_path: Path) -> None:
    missing = run(tmp_path, "datadir", "ls", "--datadir", str(tmp_path / "nope" / "binance"))
    assert missing.returncode == 2
    [line] = missing.stderr.strip().splitlines()
    assert "does not exist" in line and "user_data/data/binance" in line, line

    data = tmp_path / "user_data" / "data"
    (data / "binance").mkdir(parents=True)
    shutil.copy(DATADIR / "ETH_BTC-5m.feather", data / "binance")
    parent = run(tmp_path, "datadir", "ls", "--datadir", str(data))
    assert parent.returncode == 0
    assert f"but {data / 'binance'} does" in parent.stdout, parent.stdout


def test_import_series_with_progress_and_summary(tmp_path: Path) -> None:
    done = run(
        tmp_path, "import", "--datadir", str(DATADIR),
        "--series", "binance:spot:UNITTEST/BTC:1m", "binance:futures:XRP/USDT:USDT:5m",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Not a terminal: the summary without progress bars.
    assert "rows/s" not in done.stdout and "\r" not in done.stdout
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
    held = stored(tmp_path)
    assert len(held) == 21
    # A futures contract's mark prices and funding rates are series of their own.
    assert held["binance:mark:XRP/USDT:USDT:1h"] == 100
    assert held["binance:funding_rate:XRP/USDT:USDT:8h"] == 91


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
    assert missing.returncode == 2
    assert f"looked for {data / 'binance' / 'ETH_BTC-5m.feather'}" in missing.stderr

    listing = run(tmp_path, "datadir", "ls", "--datadir", str(bybit), "--json")
    problems = {Path(e["path"]).name: e["problem"] for e in json.loads(listing.stdout)}
    assert problems["ETH_BTC-5m.feather"] is None
    assert "not a Bybit kline interval" in problems["UNITTEST_BTC-8m.feather"]


def test_import_on_a_terminal_draws_progress_bars(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    env = {**os.environ, "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite")}
    with subprocess.Popen(
        [sys.executable, "-m", "app", "import", "--datadir", str(DATADIR),
         "--series", "binance:spot:UNITTEST/BTC:1m"],
        env=env, stdout=secondary, stderr=subprocess.DEVNULL,
    ) as proc:  # fmt: skip
        os.close(secondary)
        output = b""
        with contextlib.suppress(OSError):  # EIO once the process has closed its end
            while chunk := os.read(primary, 4096):
                output += chunk
        assert proc.wait(120) == 0
    os.close(primary)
    text = output.decode()
    assert "\r" in text and "rows/s" in text and "ETA" in text, text


def test_import_of_a_file_that_is_not_there_names_it_and_the_timeframes_that_are(
    tmp_path: Path,
) -> None:
    done = run(tmp_path, "import", "--datadir", str(DATADIR),
               "--series", "binance:spot:ETH/BTC:1m", "binance:spot:NO/PE:5m")  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"looked for {DATADIR / 'ETH_BTC-1m.feather'}" in line, line
    assert "ETH/BTC has 5m there" in line
    assert "no timeframe of NO/PE is there" in line
    assert not (tmp_path / "store.sqlite").exists()  # nothing half done


def test_import_needs_series_or_all(tmp_path: Path) -> None:
    done = run(tmp_path, "import", "--datadir", str(DATADIR))
    assert done.returncode == 2 and "--series ID ... or --all" in done.stderr
    bad = run(tmp_path, "import", "--series", "binance:spot:BTCUSDT:1m")
    assert bad.returncode == 2 and "BASE/QUOTE" in bad.stderr


def test_serve_demo_works_offline(tmp_path: Path) -> None:
    """`serve --demo`: a local Binance, Bybit and OKX, each venue's datadir filled by the
    real freqtrade download-data, the whitelisted pairs of all live."""
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
        while time.monotonic() < deadline and len(live) < 7:
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
            "okx:spot:BTC/USDT:1m",
            "okx:futures:BTC/USDT:USDT:1m",
        }
        data = tmp_path / "data"
        files = [
            data / "binance" / "BTC_USDT-1m.feather",
            data / "binance" / "futures" / "BTC_USDT_USDT-1m-futures.feather",
            data / "bybit" / "BTC_USDT-1m.feather",
            data / "bybit" / "futures" / "ETH_USDT_USDT-1m-futures.feather",
            data / "okx" / "BTC_USDT-1m.feather",
            data / "okx" / "futures" / "BTC_USDT_USDT-1m-futures.feather",
        ]
        # A series goes live (and fills from REST) while its download may still be running.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not all(f.exists() for f in files):
            time.sleep(0.5)
        assert [f for f in files if not f.exists()] == []
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_demo_keeps_its_made_up_candles_apart_from_the_real_store(tmp_path: Path) -> None:
    """`serve --demo` in a checkout, then `serve` in the same one (issue 34, finding 1): the
    demo stores in `user_data/demo/` (its store and datadirs), so the real server's store
    holds none of its candles; the banner says it is demo data."""
    import socket
    import time

    import httpx

    def serve_here(*args: str, **env: str) -> tuple[subprocess.Popen[str], str]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", *args, "--port", str(port)],
            env={**clean, **env}, cwd=tmp_path, text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        return proc, f"http://127.0.0.1:{port}"

    def stored(url: str) -> set[str]:
        listing = httpx.get(f"{url}/api/market/series", timeout=10).json()
        return {e["series_id"] for e in listing["series"] if e["count"]}

    def until(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    demo, url = serve_here("--demo")
    try:
        until(lambda: "binance:spot:BTC/USDT:1m" in stored(url), "the demo to store candles")
    finally:
        demo.terminate()
        _, banner = demo.communicate(timeout=30)
    assert "DEMO DATA" in banner
    assert (tmp_path / "user_data" / "demo" / "trade_canvas.sqlite").exists()
    assert not (tmp_path / "user_data" / "trade_canvas.sqlite").exists()
    closed = "http://127.0.0.1:9"
    real, url = serve_here(
        TRADE_CANVAS_LIVE_INGEST="0", TRADE_CANVAS_BINANCE_SPOT_REST_URL=closed,
        TRADE_CANVAS_BINANCE_FUTURES_REST_URL=closed,
    )  # fmt: skip
    try:
        until(lambda: httpx.get(f"{url}/ready", timeout=5).status_code == 200, "the server")
        assert stored(url) == set()  # not one demo candle served as real
        assert (tmp_path / "user_data" / "trade_canvas.sqlite").exists()
    finally:
        real.terminate()
        _, banner = real.communicate(timeout=30)
    assert "DEMO DATA" not in banner


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


def test_a_malformed_bot_url_is_named_by_its_bot_alone(tmp_path: Path) -> None:
    """A '#' in a password cuts the URL there: the error names the bot, and no piece of
    the password (urllib's own message quoted `Secr` as the port)."""
    done = serve_with(tmp_path, {"TRADE_CANVAS_BOTS": "alpha=http://ft:Secr#et@host:8080"})
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "bot 'alpha'" in line and "%23" in line
    assert "Secr" not in line and "et@host" not in line


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
        "a#b?c=d.sqlite.lock",
    }
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM candles").fetchone()[0] > 0


def test_serve_names_what_it_uses_and_warns_about_what_looks_wrong(tmp_path: Path) -> None:
    """A banner at start; a misspelt variable and the datadir's parent given for it are
    warned about with the right name; `--log-level` after the command works."""
    data = tmp_path / "user_data" / "data"
    (data / "binance").mkdir(parents=True)
    shutil.copy(DATADIR / "ETH_BTC-5m.feather", data / "binance")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "exchange": {"name": "binance", "pair_whitelist": ["ETH/BTC"]}, "timeframe": "5m",
    }))  # fmt: skip
    db = tmp_path / "mine.sqlite"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TRADE_CANVAS_FREQTRADE_DATDIR": str(data / "binance"),
           "TRADE_CANVAS_LIVE_INGEST": "0", "TRADE_CANVAS_HISTORY_DOWNLOAD": "0",
           "TRADE_CANVAS_BOTS": "alpha=http://freqtrader:hunter2@127.0.0.1:9"}  # fmt: skip
    env.pop("TRADE_CANVAS_DB_PATH", None)
    args = ["serve", "--datadir", str(data), "-c", str(config), "--db", str(db),
            "--port", str(port), "--log-level", "info"]  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "app", *args], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        lines: list[str] = []
        try:
            for line in proc.stderr:  # ends when the process does: a hang fails on timeout
                lines.append(line.rstrip())
                if "Application startup complete" in line:
                    break
        finally:
            proc.terminate()
            proc.wait(30)
    log = "\n".join(lines)
    assert "Application startup complete" in log, log
    assert (
        "TRADE_CANVAS_FREQTRADE_DATDIR is not a trade-canvas setting and is ignored; "
        "did you mean TRADE_CANVAS_FREQTRADE_DATADIR?"
    ) in log
    assert f"trade-canvas serving on http://127.0.0.1:{port}/" in log
    assert f"store: SQLite {db}" in log
    assert f"freqtrade config: {config}" in log
    assert "whitelist: 1 series: binance:spot:ETH/BTC:5m" in log
    assert "live ingest: off" in log
    assert "bots on the chart: alpha (http://127.0.0.1:9)" in log
    assert "hunter2" not in log
    assert f"datadirs: binance {data} (0 files)" in log
    assert f"but {data / 'binance'} does: freqtrade's datadir is the exchange's folder" in log
    assert db.exists()


def test_a_config_without_timeframe_and_a_spaced_whitelist_are_named(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"exchange": {"name": "binance", "pair_whitelist": ["ETH/BTC"]}}))
    done = serve_with(tmp_path, {}, "-c", str(config))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f'freqtrade config {config} has no "timeframe"' in line, line

    spaced = serve_with(
        tmp_path, {"TRADE_CANVAS_WHITELIST": "binance:spot:BTC/USDT:1m binance:spot:ETH/USDT:1m"}
    )
    assert spaced.returncode == 2
    [line] = spaced.stderr.strip().splitlines()
    assert "separate ids with commas, not spaces" in line, line


def test_version() -> None:
    done = subprocess.run([sys.executable, "-m", "app", "--version"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("trade-canvas 0."), done
