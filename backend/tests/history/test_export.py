"""The datadir follows the store: `trade-canvas export` and the write-through, checked with
freqtrade's own loader and a real `freqtrade backtesting` run on what they wrote."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyarrow import feather

from app.candle import CandleRow
from app.series import UNREPORTED
from local_exchange.market import SymbolModel, funding_rate, open_interest
from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade
from tests.live_support import live_settings, serving, start_fake, stored
from tests.recorded import DATADIR
from tests.support import live_server, poll

REPO = Path(__file__).resolve().parents[3]


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADE_CANVAS_DB_PATH": str(tmp_path / "store.sqlite")}
    return subprocess.run(
        [sys.executable, "-m", "app", "--log-level", "warning", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("fmt", ["feather", "jsongz"])
def test_export_writes_what_freqtrade_loads_back(tmp_path: Path, fmt: str) -> None:
    series = ["binance:spot:ETH/BTC:5m", "binance:futures:XRP/USDT:USDT:5m"]
    imported = cli(tmp_path, "import", "--datadir", str(DATADIR), "--series", *series)
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "data" / "binance"
    done = cli(tmp_path, "export", "--datadir", str(out), "--format", fmt, "--series", *series)
    assert done.returncode == 0, done.stdout + done.stderr
    ext = "json.gz" if fmt == "jsongz" else fmt
    assert (out / f"ETH_BTC-5m.{ext}").is_file()
    assert (out / "futures" / f"XRP_USDT_USDT-5m-futures.{ext}").is_file()
    # Loaded back by freqtrade exactly as a file its own handler wrote of the same candles
    # (for JSON, freqtrade's parser rounds some values whoever wrote them).
    reference = tmp_path / "reference"
    reference.mkdir()
    for pair, market in (("ETH/BTC", "spot"), ("XRP/USDT:USDT", "futures")):
        original = freqtrade_rows(DATADIR, pair, "5m", "feather", market)
        store_with_freqtrade(reference, pair, "5m", original, fmt, market)
        assert freqtrade_rows(out, pair, "5m", fmt, market) == freqtrade_rows(
            reference, pair, "5m", fmt, market
        )
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no scratch file left behind

    again = cli(tmp_path, "export", "--datadir", str(out), "--format", fmt, "--series", series[0])
    assert again.returncode == 0 and "file already current" in again.stdout, again.stdout


def test_export_merges_with_what_the_file_holds(tmp_path: Path) -> None:
    """Candles only the file has stay; where both have a candle, the store's is written."""
    imported = cli(tmp_path, "import", "--datadir", str(DATADIR),
                   "--series", "binance:spot:ETH/BTC:5m")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    store_rows = freqtrade_rows(DATADIR, "ETH/BTC", "5m", "feather")
    first = store_rows[0][0]
    older = [(first - 300 * (i + 1), 1.0, 2.0, 0.5, 1.5, 7.0) for i in range(10)][::-1]
    clash = [(store_rows[5][0], 9.0, 9.0, 9.0, 9.0, 9.0)]  # the file's own value for a time
    out = tmp_path / "data" / "binance"
    out.mkdir(parents=True)
    store_with_freqtrade(out, "ETH/BTC", "5m", older + clash, "feather")

    done = cli(tmp_path, "export", "--datadir", str(out), "--series", "binance:spot:ETH/BTC:5m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert freqtrade_rows(out, "ETH/BTC", "5m", "feather") == older + store_rows


def test_export_never_replaces_a_file_it_cannot_read(tmp_path: Path) -> None:
    imported = cli(tmp_path, "import", "--datadir", str(DATADIR),
                   "--series", "binance:spot:ETH/BTC:5m")  # fmt: skip
    assert imported.returncode == 0
    out = tmp_path / "data" / "binance"
    out.mkdir(parents=True)
    (out / "ETH_BTC-5m.feather").write_bytes(b"half a file")
    done = cli(tmp_path, "export", "--datadir", str(out), "--series", "binance:spot:ETH/BTC:5m")
    assert done.returncode == 1
    assert "cannot merge into" in done.stdout
    assert (out / "ETH_BTC-5m.feather").read_bytes() == b"half a file"


async def test_live_closes_are_written_through_and_a_backtest_runs_on_them(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake: FakeVenue = start_fake()
    try:
        await _write_through_then_backtest(make_settings, tmp_path, fake)
    finally:
        fake.stop()


async def _write_through_then_backtest(
    make_settings: SettingsFactory, tmp_path: Path, fake: FakeVenue
) -> None:
    series = "binance:spot:BTC/USDT:1m"
    data = tmp_path / "data" / "binance"
    settings = make_settings(**live_settings(
        fake, whitelist=[series], freqtrade_datadir=data, market_history_source="freqtrade",
        history_download=False, datadir_write=True, datadir_write_every_s=0.2,
        live_backfill_max_candles=300,
    ))  # fmt: skip
    async with live_server(settings) as server:

        async def file_is_store() -> bool:
            held = await stored(server, series)
            if len(held) < 300 or not (data / "BTC_USDT-1m.feather").is_file():
                return False
            return freqtrade_rows(data, "BTC/USDT", "1m", "feather") == held

        await poll(file_is_store, "the file to hold what the store holds", timeout=60)

        # freqtrade changes the file meanwhile (a download prepends older candles): kept.
        held = freqtrade_rows(data, "BTC/USDT", "1m", "feather")
        older = [(held[0][0] - 60 * (i + 1), 1.0, 2.0, 0.5, 1.5, 3.0) for i in range(5)][::-1]
        store_with_freqtrade(data, "BTC/USDT", "1m", older + held, "feather")
        newest = held[-1][0]

        async def merged() -> bool:
            rows = freqtrade_rows(data, "BTC/USDT", "1m", "feather")
            return rows[:5] == older and rows[-1][0] > newest + 120

        await poll(merged, "later closes merged into the changed file", timeout=60)
        final = await stored(server, series)
    rows = freqtrade_rows(data, "BTC/USDT", "1m", "feather")
    # On shutdown what was buffered is written: every stored candle is in the file.
    assert rows[5 : len(final) + 5] == final, "the file holds exactly the store's candles"
    await _backtest(tmp_path, data, fake, rows[5][0], rows[-1][0])


async def _backtest(
    tmp_path: Path, data: Path, fake: FakeVenue, start: int, end: int, *, futures: bool = False
) -> str:
    """A real `freqtrade backtesting` on the written files, with no `download-data` (the
    exchange asked for its market list only): its report."""
    config: dict[str, Any] = json.loads(
        (REPO / "user_data" / f"config.{fake.name}-{'futures' if futures else 'spot'}.json")
        .read_text()
    )  # fmt: skip
    if fake.name == "binance":
        api = {"public": f"{fake.rest_url}/api/v3", "fapiPublic": f"{fake.rest_url}/fapi/v1",
               "fapiPublicV2": f"{fake.rest_url}/fapi/v2"}  # fmt: skip
    elif fake.name == "okx":
        api = {"rest": fake.rest_url}
    else:
        api = dict.fromkeys(("spot", "futures", "v2", "public", "private"), fake.rest_url)
    for key in ("ccxt_config", "ccxt_async_config"):
        config["exchange"][key]["urls"]["api"] = api
    config["exchange"]["pair_whitelist"] = ["BTC/USDT:USDT" if futures else "BTC/USDT"]
    config["exchange"]["enable_ws"] = False
    path = tmp_path / "backtest.json"
    path.write_text(json.dumps(config))
    timerange = f"{start + 60 * 40}-{end}"
    (tmp_path / "user_data").mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "freqtrade", "backtesting", "--config", str(path),
        "--userdir", str(tmp_path / "user_data"), "--datadir", str(data), "--strategy-path",
        str(REPO / "user_data" / "strategies"), "--timerange", timerange, "--export", "none",
        "--cache", "none",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-4000:]
    assert "No data found" not in report and "download-data" not in report, report[-4000:]
    total = re.search(r"│\s*TOTAL\s*│\s*(\d+)\s*│", report)
    assert total is not None and int(total.group(1)) > 50, report[-4000:]
    return report


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
async def test_a_futures_backtest_runs_on_the_files_the_write_through_keeps(
    make_settings: SettingsFactory, tmp_path: Path, venue: str
) -> None:
    """A live contract's candles, and beside them its mark price, funding rate and open
    interest, kept from the venue by the companion keeper (Binance's from their own
    endpoints, Bybit's through ccxt's methods for each kind) and written through to
    freqtrade's files: the venue's own values, and a real futures backtest loads them,
    with no `download-data` (issue 36). Bybit reports no open interest value on linear
    contracts: NaN in the file, as freqtrade keeps it. OKX's open interest is not fetched
    (its mark prices and funding are, OKX's funding read back page by page)."""
    fake = start_fake(venue=venue, stepped=True, history_days=3)
    pair, contract = "BTC/USDT:USDT", f"{venue}:futures:BTC/USDT:USDT:1m"
    data = tmp_path / "data" / venue
    settings = make_settings(**live_settings(
        fake, whitelist=[contract], freqtrade_datadir=data, market_history_source="freqtrade",
        history_download=False, datadir_write=True, datadir_write_every_s=10,
        live_backfill_max_candles=1500, live_companions_every_s=10,
    ))  # fmt: skip
    model = fake.exchange.pair_model("futures", pair)
    kept: tuple[tuple[str, str], ...] = (("mark", "1h"), ("funding_rate", "1h"))
    if venue != "okx":
        kept += (("open_interest", "5m"),)
    try:
        async with serving(settings, fake) as server:
            unlike: dict[str, str] = {}

            async def files_are_the_store() -> bool:
                unlike.clear()
                for market, tf in (("futures", "1m"), *kept):
                    file = data / "futures" / f"BTC_USDT_USDT-{tf}-{market}.feather"
                    if not file.is_file():
                        unlike[market] = "no file"
                        continue
                    written = freqtrade_rows(data, pair, tf, "feather", market)
                    held = await stored(server, f"{venue}:{market}:{pair}:{tf}")
                    # The clock runs 200 times faster than real time: the file may lag the
                    # store by the few rows committed since its last write, no more.
                    if held[: len(written)] != written or len(held) - len(written) > 10:
                        unlike[market] = (
                            f"{len(written)} rows {written[:1]}..{written[-1:]} written, "
                            f"{len(held)} rows {held[:1]}..{held[-1:]} stored"
                        )
                return not unlike

            await poll(files_are_the_store, "the four files to hold what the store holds",
                       timeout=120, why=lambda: str(unlike))  # fmt: skip
            candles = await stored(server, contract)
            marks, events, *interests = [
                await stored(server, f"{venue}:{market}:{pair}:{tf}") for market, tf in kept
            ]
        # From where the contract's candles start, the venue's own values.
        assert marks[0][0] <= candles[0][0] < marks[0][0] + 3_600
        for t, o, h, low, c, _ in marks:
            k = model.derived("mark", model.kline("1h", t))
            assert (o, h, low, c) == (float(k.open), float(k.high), float(k.low), float(k.close))
        assert len(events) >= 3 and all(e[0] % (8 * 3_600) == 0 for e in events)
        assert [e[1] for e in events] == [float(funding_rate(e[0])) for e in events]
        for interest in interests:  # every 5 minutes from where the candles start
            _assert_open_interest(venue, model, candles, interest)
        if venue == "bybit":
            values = feather.read_table(
                data / "futures" / "BTC_USDT_USDT-5m-open_interest.feather"
            ).column("open_interest_value")
            assert all(v is None or v != v for v in values.to_pylist())  # NaN, as freqtrade's
        start = max(candles[0][0], marks[0][0])
        end = min(candles[-1][0], marks[-1][0])
        report = await _backtest(tmp_path, data, fake, start, end, futures=True)
        assert re.search(r"Trading Mode\s*│\s*Isolated Futures", report), report[-4000:]
    finally:
        fake.stop()


def _assert_open_interest(
    venue: str, model: SymbolModel, candles: list[CandleRow], interest: list[CandleRow]
) -> None:
    assert interest[0][0] <= candles[0][0] < interest[0][0] + 300
    assert [r[0] for r in interest] == list(range(interest[0][0], interest[-1][0] + 1, 300))
    for t, amount, *_, value in interest:
        venue_amount, venue_value = open_interest(model, t)
        assert f"{amount:.8f}" == venue_amount
        assert f"{value:.8f}" == venue_value if venue == "binance" else value == UNREPORTED
