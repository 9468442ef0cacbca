"""Holes are a first-class fact (issue 34): a hole in a datadir file is in the series'
status and listing once imported, and the server heals it from the venue in the
background: a hole seeded 3 days back is filled within a minute and equals the venue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import SettingsFactory
from tests.freqtrade_support import store_with_freqtrade
from tests.live_support import exchange_history, live_settings, start_fake, stored
from tests.support import live_server, poll

SERIES = "binance:spot:BTC/USDT:1m"
DAY = 86_400


def seeded(fake: Any, data: Path) -> tuple[int, int]:
    """A datadir file of the venue's last 3.5 days up to an hour ago, but for 90 candles
    3 days back; the hole's first and last open time."""
    now = int(fake.exchange.clock.now()) // 60 * 60
    start, end = now - int(3.5 * DAY), now - 3600
    hole = (now - 3 * DAY, now - 3 * DAY + 89 * 60)
    rows = [r for r in exchange_history(fake, SERIES, start, end)
            if not hole[0] <= r[0] <= hole[1]]  # fmt: skip
    data.mkdir(parents=True)
    store_with_freqtrade(data, "BTC/USDT", "1m", rows, "feather")
    return hole


async def test_a_hole_is_said_in_the_status_and_the_listing(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake = start_fake(history_days=4)
    try:
        data = tmp_path / "data" / "binance"
        hole = seeded(fake, data)
        settings = make_settings(
            freqtrade_datadir=data, market_history_source="freqtrade", history_download=False,
            live_ingest=False, **fake.settings(),
        )  # fmt: skip
        async with live_server(settings) as s:
            status: dict[str, Any] = {}

            async def imported() -> bool:
                # A read imports the series' file (and waits for it).
                await s.http.get("/api/market/candles", params={"series_id": SERIES})
                reply = await s.http.get("/api/market/status", params={"series_id": SERIES})
                status.update(reply.json())
                return bool(status.get("hole_count"))

            await poll(imported, "the file to be imported", timeout=60)
            assert status["holes"] == [{"from": hole[0], "to": hole[1], "candles": 90}]
            assert status["missing_candles"] == 90
            assert "1 hole in its history" in status["reason"], status
            listed = (await s.http.get("/api/market/series")).json()["series"]
            entry = next(e for e in listed if e["series_id"] == SERIES)
            assert entry["hole_count"] == 1 and entry["status"]["hole_count"] == 1
    finally:
        fake.stop()


async def test_a_hole_three_days_back_is_healed_from_the_venue(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake = start_fake(history_days=4)
    try:
        data = tmp_path / "data" / "binance"
        hole = seeded(fake, data)
        settings = make_settings(**live_settings(
            fake, whitelist=[SERIES], freqtrade_datadir=data, market_history_source="freqtrade",
            history_download=False, live_heal_every_s=1,
        ))  # fmt: skip
        async with live_server(settings) as s:

            async def healed() -> bool:
                reply = await s.http.get("/api/market/status", params={"series_id": SERIES})
                rows = await stored(s, SERIES)
                return reply.json()["hole_count"] == 0 and any(r[0] == hole[0] for r in rows)

            await poll(healed, "the hole to be healed", timeout=60)
            rows = {r[0]: r for r in await stored(s, SERIES)}
            truth = exchange_history(fake, SERIES, hole[0] - 60, hole[1] + 60)
            assert [rows[t[0]] for t in truth] == truth
    finally:
        fake.stop()


def test_datadir_ls_and_check_store_show_every_hole(tmp_path: Path) -> None:
    """Per file (read as the server reads it) and per stored series."""
    data = tmp_path / "data" / "binance"
    data.mkdir(parents=True)
    t0 = 1_700_000_040
    rows = [(t0 + 60 * i, 1.0, 2.0, 0.5, 1.5, 3.0) for i in range(100) if not 40 <= i < 50]
    store_with_freqtrade(data, "BTC/USDT", "1m", rows, "feather")
    env = {**os.environ, "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", *args], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    done = cli("import", "--datadir", str(data), "--series", SERIES)
    assert done.returncode == 0, done.stderr
    listed = cli("datadir", "ls", "--datadir", str(data), "--json")
    (entry,) = json.loads(listed.stdout)
    assert (entry["holes"], entry["missing"]) == (1, 10), entry
    assert entry["stored"]["holes"] == 1, entry
    table = cli("datadir", "ls", "--datadir", str(data)).stdout
    assert "1 (10 candles)" in table, table
    checked = cli("check-store")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{SERIES}: 1 holes, 10 candles" in checked.stdout, checked.stdout
