"""Faults that must not lose or misfile a candle: a full disk mid-import (a real, small
tmpfs) and `kill -9` of `trade-canvas import` and of the server mid-import."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.candle import CandleRow
from tests.conftest import SettingsFactory
from tests.freqtrade_support import store_with_freqtrade
from tests.support import free_port, live_server, poll

T0 = 1_600_000_020  # 1m-aligned


def rows(n: int, start: int = T0, base: float = 100.0) -> list[CandleRow]:
    return [
        (start + 60 * i, base + i % 97, base + i % 97 + 2.5, base + i % 97 - 1.25,
         base + i % 97 + (i % 5) * 0.5, 0.5 + i % 7)
        for i in range(n)
    ]  # fmt: skip


def stored(db: Path, series_id: str) -> list[CandleRow]:
    """Every candle of `series_id` in the SQLite file, read apart from the server."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute(
                "SELECT candle_time, open, high, low, close, volume FROM candles "
                "WHERE series_key = (SELECT series_key FROM series WHERE series_id = ?) "
                "ORDER BY candle_time",
                (series_id,),
            )
        ]
    finally:
        conn.close()


def stored_count(db: Path, series_id: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(
                "SELECT row_count FROM series WHERE series_id = ?", (series_id,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    return int(row[0]) if row else 0


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB tmpfs; skipped (saying so) where this machine cannot mount one."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path, leave_bytes: int) -> None:
    """Fill the file system of `path` until `leave_bytes` are free."""
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    with path.open("wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))


async def test_disk_full_mid_import_misfiles_nothing_and_recovers(
    make_settings: SettingsFactory, tmp_path: Path, small_tmpfs: Path
) -> None:
    datadir = tmp_path / "data"
    big, small = rows(120_000), rows(3_000, base=5.0)
    store_with_freqtrade(datadir, "BTC/USDT", "1m", big, "feather")
    store_with_freqtrade(datadir, "ETH/USDT", "1m", small, "feather")
    a, b = "binance:spot:BTC/USDT:1m", "binance:spot:ETH/USDT:1m"
    db = small_tmpfs / "store.sqlite"
    filler = small_tmpfs / "filler"
    settings = make_settings(
        db_path=db, market_history_source="freqtrade", freqtrade_datadir=datadir,
        history_download=False, history_recheck_s=0, history_wait_s=30,
    )  # fmt: skip
    async with live_server(settings) as server:
        fill(filler, leave_bytes=1_500_000)
        r = await server.http.get("/api/market/candles", params={"series_id": a})
        assert r.status_code in (200, 503), r.text

        async def history_of(series_id: str) -> dict[str, Any]:
            listing = (await server.http.get("/api/market/series")).json()["series"]
            entry = next(e for e in listing if e["series_id"] == series_id)
            history: dict[str, Any] = entry.get("history") or {}
            return history

        async def failed() -> bool:
            return (await history_of(a)).get("status") == "failed"

        await poll(failed, "the import to fail on the full disk")
        error = (await history_of(a))["last_error"]
        assert "database or disk is full" in error, error
        ready = await server.http.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert "database or disk is full" in ready.json()["problems"][0]
        # Reads go on while writes fail.
        r = await server.http.get("/api/market/candles", params={"series_id": a, "limit": 10})
        assert r.status_code == 200

        filler.unlink()
        r = await server.http.get("/api/market/candles", params={"series_id": b, "limit": 5000})
        assert r.status_code == 200
        # The failed series is retried with backoff, with no request asking for it.
        await poll(
            lambda: stored_count(db, a) == len(big), "the failed import to recover", timeout=60
        )
        assert stored(db, a) == big
        assert stored(db, b) == small
        ready = await server.http.get("/ready")
        assert ready.json()["status"] == "ready"


def import_env(tmp_path: Path, datadir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite"),
        "TRADE_CANVAS_FREQTRADE_DATADIR": str(datadir),
        # Small batches make the import long enough to be killed in the middle.
        "TRADE_CANVAS_HISTORY_BATCH_SIZE": "100",
    }


def kill_when_partly_imported(
    proc: subprocess.Popen[bytes], db: Path, series_id: str, total: int
) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = stored_count(db, series_id)
        # Past the newest batch and into the oldest-first part: the hole case.
        if 2_000 < n < total - 2_000:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return n
        assert proc.poll() is None, "the import ended before it could be killed"
        time.sleep(0.005)
    raise AssertionError("the import never got under way")


def test_kill_9_mid_import_then_rerun_ends_equal_to_the_file(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    candles = rows(150_000)
    store_with_freqtrade(datadir, "BTC/USDT", "1m", candles, "feather")
    series = "binance:spot:BTC/USDT:1m"
    env = import_env(tmp_path, datadir)
    db = tmp_path / "store.sqlite"
    command = [sys.executable, "-m", "app", "import", "--series", series]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    killed_at = kill_when_partly_imported(proc, db, series, len(candles))
    assert stored_count(db, series) < len(candles), killed_at
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert stored(db, series) == candles


def test_kill_9_server_mid_import_then_restart_resumes_to_the_file(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    candles = rows(150_000)
    store_with_freqtrade(datadir, "BTC/USDT", "1m", candles, "feather")
    series = "binance:spot:BTC/USDT:1m"
    env = {**import_env(tmp_path, datadir), "TRADE_CANVAS_LIVE_INGEST": "0"}
    db = tmp_path / "store.sqlite"
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/market/candles",
                    params={"series_id": series, "limit": 5}, timeout=30,
                )  # fmt: skip
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        assert r.status_code == 200 and len(r.json()["candles"]) == 5
        kill_when_partly_imported(proc, db, series, len(candles))
    finally:
        proc.kill()
        proc.wait(10)
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        # No request: the restarted server resumes the interrupted import by itself.
        deadline = time.monotonic() + 90
        while stored_count(db, series) < len(candles):
            assert time.monotonic() < deadline, "the interrupted import was not resumed"
            time.sleep(0.1)
        assert stored(db, series) == candles
        # It reports what the store holds of the file, not only the part it resumed.
        while (history := _history_of(port, series)).get("status") != "imported":
            assert time.monotonic() < deadline, history
            time.sleep(0.1)
        assert history["rows_imported"] == history["rows_in_file"] == len(candles), history
    finally:
        proc.terminate()
        proc.wait(30)


def _history_of(port: int, series_id: str) -> dict[str, Any]:
    listing = httpx.get(f"http://127.0.0.1:{port}/api/market/series", timeout=30).json()
    entry = next(e for e in listing["series"] if e["series_id"] == series_id)
    history: dict[str, Any] = entry.get("history") or {}
    return history


async def test_a_restart_does_not_read_a_completely_imported_file_again(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """After a restart, a file whose recorded import is complete and whose signature (path,
    size, mtime) is unchanged is not read: here its bytes are scrambled behind an unchanged
    signature, and the first request is still served from the store, with no file error."""
    datadir = tmp_path / "data"
    candles = rows(20_000)
    store_with_freqtrade(datadir, "BTC/USDT", "1m", candles, "feather")
    series = "binance:spot:BTC/USDT:1m"
    settings = make_settings(
        market_history_source="freqtrade", freqtrade_datadir=datadir, history_download=False,
        history_recheck_s=0,
    )  # fmt: skip
    params = {"series_id": series, "limit": 5000}
    async with live_server(settings) as s:
        r = await s.http.get("/api/market/candles", params={**params, "before": 2**40})
        assert r.status_code == 200
    file = datadir / "BTC_USDT-1m.feather"
    st = file.stat()
    file.write_bytes(os.urandom(st.st_size))
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
    async with live_server(settings) as s:
        r = await s.http.get("/api/market/candles", params=params)
        assert r.status_code == 200
        assert [tuple(c.values()) for c in r.json()["candles"]] == candles[-5000:]
        listing = (await s.http.get("/api/market/series")).json()["series"]
        history = next(e for e in listing if e["series_id"] == series)["history"]
        assert history["status"] == "imported", history
        assert history["last_error"] is None
        assert history["rows_in_file"] == history["rows_imported"] == len(candles)
        text = (await s.http.get("/metrics")).text
        assert "trade_canvas_history_bad_files_total{" not in text


async def test_failed_write_leaves_no_cached_series_key(small_tmpfs: Path) -> None:
    """The rolled-back series row's key is free again; SQLite gives it to the next new
    series, so a cached copy would file the first series' candles under the second."""
    from app.errors import StoreError
    from app.metrics import Metrics
    from app.store.sqlite import SqliteCandleStore

    store = SqliteCandleStore(small_tmpfs / "store.sqlite", Metrics())
    await store.open()
    try:
        a, b = "binance:spot:BTC/USDT:1m", "binance:spot:ETH/USDT:1m"
        first, second = rows(100_000), rows(500, base=7.0)
        filler = small_tmpfs / "filler"
        fill(filler, leave_bytes=600_000)
        with pytest.raises(StoreError, match="database or disk is full"):
            await store.upsert_many(a, first)
        assert store.write_error is not None and "disk is full" in store.write_error
        filler.unlink()
        await store.upsert_many(b, second)
        await store.upsert_many(a, first)
        assert store.write_error is None
        assert await store.newest(b, 5_000) == second
        assert await store.since(a, 0, 100_000) == first
    finally:
        await store.close()


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def corrupt_newest_page_of(db: Path, middle_of: int) -> None:
    """Overwrite a leaf page of the candles table near the newest candles of the
    `middle_of`-th of three equal series (b-tree order is series, then time)."""
    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'candles' AND pagetype = 'leaf' ORDER BY path"
        )]  # fmt: skip
    finally:
        conn.close()
    page = leaves[len(leaves) * middle_of // 3 - 2]
    with db.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(os.urandom(page_size))


async def test_a_corrupt_page_turns_ready_degraded_and_check_store_finds_it(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    from app.metrics import Metrics
    from app.store.sqlite import SqliteCandleStore

    db = tmp_path / "store.sqlite"
    series = [f"binance:spot:{b}/USDT:1m" for b in ("BTC", "ETH", "SOL")]
    store = SqliteCandleStore(db, Metrics())
    await store.open()
    for sid in series:
        await store.upsert_many(sid, rows(30_000))
    await store.close()
    check = [sys.executable, "-m", "app", "check-store", "--db", str(db)]
    healthy = await asyncio.to_thread(run, check)
    assert healthy.returncode == 0 and f"{db}: ok" in healthy.stdout, healthy
    corrupt_newest_page_of(db, 2)

    async with live_server(make_settings(db_path=db)) as s:
        assert (await s.http.get("/ready")).json() == {"status": "ready"}
        ok = await s.http.get("/api/market/candles", params={"series_id": series[0]})
        assert ok.status_code == 200 and len(ok.json()["candles"]) == 500
        r = await s.http.get("/api/market/candles", params={"series_id": series[1], "limit": 5000})
        assert r.status_code == 503 and r.json()["error_code"] == "store_unavailable", r.text
        ready = await s.http.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
        assert "malformed" in ready.json()["problems"][0]
        assert "check-store" in ready.json()["problems"][0]

    found = await asyncio.to_thread(run, check)
    assert found.returncode == 1, found
    assert f"{series[1]}:" in found.stdout, found.stdout
    assert f"{series[0]}:" not in found.stdout
    assert "reading every candle" in found.stderr  # stages, not a bar: not a terminal
