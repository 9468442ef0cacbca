"""A futures contract's open interest (issue 36): freqtrade's `-open_interest` files imported
and exported as freqtrade reads them, Binance's `openInterestHist` fetched, stored and
served by the facade exactly as Binance answers, and beyond the 30 days Binance keeps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pyarrow import feather

from app.series import UNREPORTED
from local_exchange.market import open_interest
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade
from tests.history.test_export import cli
from tests.live_support import clock_of, driven, live_settings, start_fake
from tests.support import live_server

PAIR = "BTC/USDT:USDT"
SERIES = f"binance:open_interest:{PAIR}:5m"
HIST = "/futures/data/openInterestHist"
DAY = 86_400
NAN = math.nan


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def samples(first: int, count: int) -> list[tuple[int, float, float, float, float, float]]:
    """Open interest as freqtrade files it: an amount and a value (Bybit reports only the
    amount: its value NaN)."""
    rows = []
    for i in range(count):
        amount = 1_000.0 + 7.5 * i
        value = NAN if i % 5 == 4 else amount * (30_000.0 + i)
        rows.append((first + 300 * i, amount, amount, amount, amount, value))
    return rows


def test_open_interest_files_are_imported_and_exported_as_freqtrade_reads_them(
    tmp_path: Path,
) -> None:
    data = tmp_path / "in" / "binance"
    data.mkdir(parents=True)
    written = samples(1_700_000_100, 40)
    store_with_freqtrade(data, PAIR, "5m", written, "feather", "open_interest")
    original = freqtrade_rows(data, PAIR, "5m", "feather", "open_interest")
    assert len(original) == 40 and original[4][5] == UNREPORTED
    imported = cli(tmp_path, "import", "--datadir", str(data), "--series", SERIES)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    listed = cli(tmp_path, "datadir", "ls", "--datadir", str(data))
    assert SERIES in listed.stdout, listed.stdout + listed.stderr
    for fmt in ("feather", "jsongz"):
        out = tmp_path / fmt / "binance"
        done = cli(tmp_path, "export", "--datadir", str(out), "--format", fmt, "--series", SERIES)
        assert done.returncode == 0, done.stdout + done.stderr
        assert freqtrade_rows(out, PAIR, "5m", fmt, "open_interest") == original
    table = feather.read_table(tmp_path / "feather" / "binance" / "futures"
                               / "BTC_USDT_USDT-5m-open_interest.feather")  # fmt: skip
    assert table.schema.names == ["date", "open_interest_amount", "open_interest_value"]
    assert math.isnan(table.column("open_interest_value")[4].as_py())


async def test_open_interest_is_binances_own_and_kept_beyond_its_30_days(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake = start_fake(stepped=True, history_days=60)
    clock = clock_of(fake)
    model = fake.exchange.pair_model("futures", PAIR)
    data = tmp_path / "data" / "binance"
    data.mkdir(parents=True)
    # Sampled here 40 days ago (Binance no longer has these).
    old_first = (int(clock.now()) - 40 * DAY) // 300 * 300
    old = samples(old_first, 60)
    store_with_freqtrade(data, PAIR, "5m", old, "feather", "open_interest")
    try:
        settings = make_settings(**live_settings(
            fake, live_companions=False, freqtrade_datadir=data,
            market_history_source="freqtrade", history_download=False,
        ))  # fmt: skip
        async with driven(clock) as driver, live_server(settings, clock) as s:
            with driver.paused():
                params = {"symbol": "BTCUSDT", "period": "5m", "limit": 50}
                ours = await s.http.get(f"/binance{HIST}", params=params)
                theirs = await s.http.get(f"{fake.rest_url}{HIST}", params=params)
                assert ours.status_code == 200, ours.text
                assert ours.json() == theirs.json() and len(ours.json()) == 50
                for row in ours.json():
                    amount, value = open_interest(model, row["timestamp"] // 1000)
                    assert (row["sumOpenInterest"], row["sumOpenInterestValue"]) == (
                        amount, value)  # fmt: skip

                # By time, as ccxt pages it: Binance's rows.
                window = {**params, "startTime": ours.json()[5]["timestamp"], "limit": 20}
                ours_window = await s.http.get(f"/binance{HIST}", params=window)
                assert ours_window.json() == ours.json()[5:25]

                # Older than Binance keeps: Binance refuses, the store answers.
                old_window = {**params, "startTime": old_first * 1000, "limit": 30}
                refused = await s.http.get(f"{fake.rest_url}{HIST}", params=old_window)
                assert refused.status_code == 400
                kept = await s.http.get(f"/binance{HIST}", params=old_window)
                assert kept.status_code == 200, kept.text
                rows = kept.json()
                assert [r["timestamp"] // 1000 for r in rows] == [r[0] for r in old[:30]]
                assert rows[0]["sumOpenInterest"] == f"{old[0][1]:.8f}"
                assert rows[4]["sumOpenInterestValue"] == ""  # imported without it

                bad = await s.http.get(f"/binance{HIST}", params={**params, "period": "1m"})
                assert bad.status_code == 400 and bad.json()["code"] == -1130
    finally:
        fake.stop()
