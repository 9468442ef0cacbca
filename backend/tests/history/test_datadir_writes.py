"""The datadir follows the store completely (issue 34, findings 3 and 4): the write-through
fills what a lagging file lacks on its first write, another writer's rows are never replaced
by an older merge, scratch files of an interrupted write are removed, and a failing write
is said in the series' status and `/ready`, each cause logged once. Real files, written and
read back by freqtrade's own data handlers; a real store."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.bus.memory import NoBus
from app.candle import CandleRow
from app.clock import SystemClock
from app.history.datadir import Datadirs
from app.history.export import ExportError, write_candles
from app.history.writethrough import DatadirWriteThrough
from app.hub import CandleWriter
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.series import parse_series_id
from app.store import CandleStore, build_store
from tests.conftest import SettingsFactory
from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade
from tests.live_support import live_settings, start_fake, stored
from tests.support import live_server, poll

SERIES = "binance:spot:BTC/USDT:1m"
T0 = 1_700_000_040
BACKEND = Path(__file__).resolve().parents[2]


def row(i: int) -> CandleRow:
    return (T0 + 60 * i, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0 + i)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CandleStore]:
    store = build_store(None, tmp_path / "store.sqlite", Metrics())
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def write_through(store: CandleStore, data: Path) -> DatadirWriteThrough:
    return DatadirWriteThrough(
        store, Datadirs(data, "binance"), "feather", Metrics(), SystemClock(), every_s=60
    )


async def test_the_first_write_fills_what_a_lagging_file_lacks(
    store: CandleStore, tmp_path: Path
) -> None:
    """Write-through turned on over a datadir whose file lags the store (and has a hole of
    its own): the first live close written gives the file every stored candle."""
    data = tmp_path / "data" / "binance"
    data.mkdir(parents=True)
    stored = [row(i) for i in range(300)]
    await store.insert_many(SERIES, stored)
    lagging = [r for i, r in enumerate(stored[:290]) if not 100 <= i < 105]
    store_with_freqtrade(data, "BTC/USDT", "1m", lagging, "feather")

    through = write_through(store, data)
    close = row(300)
    await store.insert_many(SERIES, [close])
    through.stored(SERIES, [close])

    async def written(rows: list[CandleRow]) -> bool:
        # Flushed as the write-through's loop would (freqtrade wrote the file a moment ago).
        await through.flush()
        return freqtrade_rows(data, "BTC/USDT", "1m", "feather") == rows

    await poll(lambda: written([*stored, close]), "the file to hold every stored candle")
    # Later writes append only what they are given.
    later = row(301)
    await store.insert_many(SERIES, [later])
    through.stored(SERIES, [later])
    await through.flush()
    assert freqtrade_rows(data, "BTC/USDT", "1m", "feather") == [*stored, close, later]
    assert through.problems() == []


async def test_history_stored_after_the_first_write_reaches_the_file(
    store: CandleStore, tmp_path: Path
) -> None:
    """History the venue filled in older than the stored range, and a hole healed, after
    the file was first written: the file gets them at the next write, as a live close. A
    datadir's own rows imported from it are not written back."""
    data = tmp_path / "data" / "binance"
    through = write_through(store, data)
    writer = CandleWriter(store, SeriesLocks(), NoBus(), SystemClock(), archive=through)
    held = [row(i) for i in range(100, 200) if not 150 <= i < 155]
    await writer.commit_closed(SERIES, held)
    await through.flush()
    assert freqtrade_rows(data, "BTC/USDT", "1m", "feather") == held

    older, hole = [row(i) for i in range(50)], [row(i) for i in range(150, 155)]
    await writer.import_batch(SERIES, older, None)  # the readers' fill from the venue
    await writer.import_batch(SERIES, hole, None)  # the healer's
    await through.flush()
    assert freqtrade_rows(data, "BTC/USDT", "1m", "feather") == sorted(older + hole + held)

    file = data / "BTC_USDT-1m.feather"
    before = file.stat().st_mtime_ns
    await writer.import_batch(SERIES, [row(i) for i in range(50, 100)], None, from_archive=True)
    await through.flush()
    assert file.stat().st_mtime_ns == before


FOREIGN_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade

    data, t0, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    for i in range(n):
        # As download-data does: load the file, add what it fetched, write it in place.
        rows = freqtrade_rows(data, "BTC/USDT", "1m", "feather")
        rows.append((t0 + 60 * i, 1.0, 2.0, 0.5, 1.5, float(i)))
        store_with_freqtrade(data, "BTC/USDT", "1m", sorted(rows), "feather")
    """
)


def test_a_foreign_writer_keeps_its_rows(tmp_path: Path) -> None:
    """freqtrade loads, extends and rewrites the file in place again and again while
    trade-canvas tries to merge its own candles into it: no row freqtrade added is lost
    (each freqtrade write builds on the file as it finds it, so a row lost once stays lost),
    and trade-canvas's rows are all in the file once freqtrade is done."""
    data = tmp_path / "data" / "binance"
    data.mkdir(parents=True)
    ours = [row(-1 - i) for i in range(200)]  # older than freqtrade's
    store_with_freqtrade(data, "BTC/USDT", "1m", [ours[0]], "feather")
    writes = 300
    foreign = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_WRITER, str(data), str(T0), str(writes)], cwd=BACKEND
    )
    series = parse_series_id(SERIES)
    tried = merged = 0
    try:
        while foreign.poll() is None and merged < len(ours):
            tried += 1
            try:
                write_candles(data, series, ours[: merged + 1], "feather")
            except ExportError:
                continue  # freqtrade is writing it: tried again
            merged += 1
    finally:
        foreign.wait(120)
    assert foreign.returncode == 0
    assert tried > 10, "the writes were not concurrent"
    # Once freqtrade is done, the file is quiet again and takes every row of ours.
    write_candles(data, series, ours, "feather", wait_s=30)
    times = {r[0] for r in freqtrade_rows(data, "BTC/USDT", "1m", "feather")}
    lost = [T0 + 60 * i for i in range(writes) if T0 + 60 * i not in times]
    assert not lost, f"{len(lost)} of freqtrade's rows lost"
    assert {r[0] for r in ours} <= times


async def test_scratch_files_of_an_interrupted_write_are_removed_at_start(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A `kill -9` of `export` (or of the server) mid-write leaves its scratch file; the
    next write-through removes every one, and nothing else."""
    data = tmp_path / "data" / "binance"
    (data / "futures").mkdir(parents=True)
    scratch = [
        data / ".BTC_USDT-1m.feather.1a2b3c4d.trade-canvas",
        data / "futures" / ".BTC_USDT_USDT-1m-futures.feather.deadbeef.trade-canvas",
    ]
    for path in scratch:
        path.write_bytes(b"half a file")
    kept = [data / ".keep", data / "ETH_USDT-1m.feather.trade-canvas.txt"]
    for path in kept:
        path.write_bytes(b"")
    settings = make_settings(
        freqtrade_datadir=data, datadir_write=True, live_ingest=False,
        market_history_source="off",
    )  # fmt: skip
    async with live_server(settings):
        await poll(lambda: not any(p.exists() for p in scratch), "scratch files removed")
    assert all(p.exists() for p in kept)


async def test_a_failing_datadir_write_is_said_until_it_works(
    make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A directory where the series' file belongs: every write fails. `/ready` is degraded
    and the series' status says why, the cause is logged once however often it is
    retried, and once the way is clear the file gets every stored candle."""
    fake = start_fake()
    try:
        data = tmp_path / "data" / "binance"
        blocker = data / "BTC_USDT-1m.feather"
        blocker.mkdir(parents=True)
        settings = make_settings(**live_settings(
            fake, whitelist=[SERIES], freqtrade_datadir=data, market_history_source="off",
            datadir_write=True, datadir_write_every_s=0.2, live_backfill_max_candles=60,
        ))  # fmt: skip
        caplog.set_level(logging.WARNING, logger="app.history.writethrough")
        async with live_server(settings) as server:

            async def failed_often() -> bool:
                metrics = (await server.http.get("/metrics")).text
                found = re.search(r'trade_canvas_datadir_writes_total\{result="failed"\} (\S+)',
                                  metrics)  # fmt: skip
                return found is not None and float(found.group(1)) >= 3

            await poll(failed_often, "writes to fail, again and again", timeout=60)
            ready = (await server.http.get("/ready")).json()
            assert ready["status"] == "degraded", ready
            assert any(
                p.startswith("datadir writes are failing for 1 series") and SERIES in p
                for p in ready["problems"]
            ), ready
            status = (
                await server.http.get("/api/market/status", params={"series_id": SERIES})
            ).json()
            assert "its datadir file cannot be written" in status["reason"], status
            failures = [r for r in caplog.records if "failed (kept, retried)" in r.message]
            assert len(failures) == 1, [r.message for r in failures]

            blocker.rmdir()

            async def healed() -> bool:
                ready = (await server.http.get("/ready")).json()
                if ready["status"] != "ready" or not blocker.is_file():
                    return False
                held = await stored(server, SERIES)
                return freqtrade_rows(data, "BTC/USDT", "1m", "feather")[: len(held)] == held

            await poll(healed, "the file to hold every stored candle", timeout=60)
    finally:
        fake.stop()
