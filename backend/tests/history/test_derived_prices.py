"""A futures contract's derived prices (mark, index and premium index; the first part of
issue 36): freqtrade's own files of them imported and served exactly, listed, exported
back, and never fetched from the venue as the contract's own candles (which would poison
them: a mark price is not a trade price)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.feather as feather
import pytest

from app.candle import CandleRow
from app.config import Settings
from local_exchange.market import DerivedKind
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade
from tests.history.test_export import cli
from tests.history.test_history_api import all_candles, history_settings
from tests.live_support import (
    FakeVenue,
    exchange_history,
    jobs_of,
    live_settings,
    start_fake,
    stored,
)
from tests.recorded import DATADIR
from tests.support import LiveServer, live_server, poll

PAIR = "BTC/USDT:USDT"
FUNDING = "binance:funding_rate:XRP/USDT:USDT:8h"
MARK = f"binance:mark:{PAIR}:1m"
PREMIUM = f"binance:premiumIndex:{PAIR}:1m"
FUTURES = f"binance:futures:{PAIR}:1m"
T0 = 1_700_000_040
NAN = math.nan


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def status_of(server: LiveServer, series_id: str) -> dict[str, Any]:
    reply = await server.http.get("/api/market/status", params={"series_id": series_id})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_mark_and_premium_index_files_are_served_as_freqtrade_reads_them(
    make_settings: SettingsFactory, tmp_path: Path, store_engine: str
) -> None:
    data = tmp_path / "data" / "binance"
    data.mkdir(parents=True)
    # As freqtrade's download-data leaves them: no volume (ccxt has none for these), and a
    # premium that goes below zero.
    mark = [(T0 + 60 * i, 100.0 + i, 101.0 + i, 99.5 + i, 100.5 + i, NAN) for i in range(50)]
    premium = [
        (T0 + 60 * i, p, p + 0.0002, p - 0.0003, p + 0.0001, NAN)
        for i, p in enumerate(-0.0005 + 0.00002 * i for i in range(50))
    ]
    # A funding rate is one value per time, in freqtrade's layout for it; it may be negative.
    h8 = 8 * 3600
    funding = [(h8 * (59_028 + i), r, r, r, r, 0.0)
               for i, r in enumerate((0.0001, -0.00025, 0.0003, -0.0000125))]  # fmt: skip
    store_with_freqtrade(data, PAIR, "1m", mark, "feather", "mark")
    store_with_freqtrade(data, PAIR, "1m", premium, "feather", "premiumIndex")
    store_with_freqtrade(data, PAIR, "8h", funding, "feather", "funding_rate")
    assert (data / "futures" / "BTC_USDT_USDT-1m-mark.feather").is_file()

    async with live_server(history_settings(make_settings, data)) as s:
        for series_id, market in ((MARK, "mark"), (PREMIUM, "premiumIndex")):
            expected = freqtrade_rows(data, PAIR, "1m", "feather", market)
            assert len(expected) == 50 and all(r[5] == 0.0 for r in expected)
            assert await all_candles(s, series_id) == expected
        assert min(r[3] for r in await all_candles(s, PREMIUM)) < 0
        rates = f"binance:funding_rate:{PAIR}:8h"
        assert freqtrade_rows(data, PAIR, "8h", "feather", "funding_rate") == funding
        assert await all_candles(s, rates) == funding

        listed = {
            e["series_id"]: e for e in (await s.http.get("/api/market/series")).json()["series"]
        }
        assert listed[MARK]["market"] == "mark" and listed[MARK]["symbol"] == PAIR
        assert listed[PREMIUM]["market"] == "premiumIndex"
        status = await status_of(s, MARK)
        assert status["state"] == "history_only"
        assert "not streamed live" in status["reason"], status
        # A mark series nowhere here is checked against its contract's market list.
        r = await s.http.get(
            "/api/market/candles", params={"series_id": "binance:mark:ETH/USDT:USDT:1m"}
        )
        assert r.status_code == 503, r.text
        assert "the binance futures market list cannot be had now" in r.json()["message"]


def test_the_fixtures_mark_prices_are_imported_and_exported_as_freqtrade_reads_them(
    tmp_path: Path,
) -> None:
    """freqtrade's own recorded mark files (no volume), through `import` and `export`."""
    series = ["binance:mark:XRP/USDT:USDT:1h", "binance:mark:XRP/USDT:USDT:8h"]
    listed = cli(tmp_path, "datadir", "ls", "--datadir", str(DATADIR))
    assert listed.returncode == 0, listed.stderr
    assert all(s in listed.stdout for s in series), listed.stdout
    imported = cli(tmp_path, "import", "--datadir", str(DATADIR), "--series", *series)
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "data" / "binance"
    done = cli(tmp_path, "export", "--datadir", str(out), "--series", *series)
    assert done.returncode == 0, done.stdout + done.stderr
    for timeframe in ("1h", "8h"):
        assert (out / "futures" / f"XRP_USDT_USDT-{timeframe}-mark.feather").is_file()
        original = freqtrade_rows(DATADIR, "XRP/USDT:USDT", timeframe, "feather", "mark")
        assert len(original) > 50
        assert freqtrade_rows(out, "XRP/USDT:USDT", timeframe, "feather", "mark") == original


def venue_marks(
    fake: FakeVenue, start: int, end: int, kind: DerivedKind = "mark"
) -> list[CandleRow]:
    """The local exchange's own 1m mark (or `kind`) price klines of BTC/USDT:USDT."""
    model = fake.exchange.pair_model("futures", PAIR)
    rows = []
    for t in range(start, end + 1, 60):
        k = model.derived(kind, model.kline("1m", t))
        rows.append((t, float(k.open), float(k.high), float(k.low), float(k.close), 0.0))
    return rows


def seed_mark_and_futures(
    fake: FakeVenue, data: Path, kind: DerivedKind = "mark"
) -> tuple[tuple[int, int], list[CandleRow]]:
    """A mark (or `kind`) file and a futures file of the contract, 6 hours up to an hour
    ago, each with the same 30-minute hole 3 hours back; the hole, and the mark file's
    candles."""
    now = int(fake.exchange.clock.now()) // 60 * 60
    start, end = now - 6 * 3600, now - 3600
    hole = (now - 3 * 3600, now - 3 * 3600 + 29 * 60)
    futures = exchange_history(fake, f"{fake.name}:futures:{PAIR}:1m", start, end)
    marks = venue_marks(fake, start, end, kind)
    data.mkdir(parents=True)
    outside = [r for r in marks if not hole[0] <= r[0] <= hole[1]]
    store_with_freqtrade(data, PAIR, "1m", outside, "feather", kind)
    store_with_freqtrade(data, PAIR, "1m",
                         [r for r in futures if not hole[0] <= r[0] <= hole[1]], "feather",
                         "futures")  # fmt: skip
    return hole, outside


def healing(make_settings: SettingsFactory, fake: FakeVenue, data: Path, mark: str) -> Settings:
    """`mark` whitelisted, the datadir `data` imported, holes healed every second."""
    return make_settings(**live_settings(
        fake, whitelist=[mark], freqtrade_datadir=data, market_history_source="freqtrade",
        history_download=False, live_heal_every_s=1,
    ))  # fmt: skip


async def heal_both(server: LiveServer, mark: str, futures: str) -> None:
    async def mark_imported() -> bool:
        return (await status_of(server, mark))["hole_count"] == 1

    await poll(mark_imported, "the mark file to be imported", timeout=60)

    async def futures_healed() -> bool:
        await server.http.get("/api/market/candles", params={"series_id": futures})
        return (await status_of(server, futures))["hole_count"] == 0

    # The healer's passes look at every stored series: the one that heals the futures
    # hole (stored after the mark series) has looked at the mark series too.
    await poll(futures_healed, "the futures hole to be healed", timeout=60)


@pytest.mark.parametrize("venue", ["binance", "okx"])
async def test_a_mark_hole_is_healed_with_the_venues_mark_prices_not_the_contracts(
    make_settings: SettingsFactory, tmp_path: Path, venue: str
) -> None:
    fake = start_fake(venue=venue, history_days=1)
    mark, futures = f"{venue}:mark:{PAIR}:1m", f"{venue}:futures:{PAIR}:1m"
    try:
        data = tmp_path / "data" / venue
        hole, _ = seed_mark_and_futures(fake, data)
        async with live_server(healing(make_settings, fake, data, mark)) as s:
            await heal_both(s, mark, futures)

            async def mark_healed() -> bool:
                return (await status_of(s, mark))["hole_count"] == 0

            await poll(mark_healed, "the mark hole to be healed", timeout=60)
            truth = venue_marks(fake, hole[0] - 3600, hole[1] + 3600)
            held = {r[0]: r for r in await stored(s, mark)}
            assert [held[r[0]] for r in truth] == truth
            contract = {r[0]: r for r in await stored(s, futures)}
            assert all(contract[t][1] != held[t][1] for t in range(hole[0], hole[1] + 1, 60))
            status = await status_of(s, mark)
            if venue == "okx":  # OKX streams a swap's mark price candles
                assert status["state"] == "streaming", status
                assert [j["state"] for j in await jobs_of(s, mark)] == ["live"]
                return
            assert status["state"] == "history_only"
            assert (
                "not streamed live" in status["reason"] and "fetched over REST" in status["reason"]
            )
            assert [j["state"] for j in await jobs_of(s, mark)] == ["history-only"]
    finally:
        fake.stop()


async def test_a_mark_price_is_never_fetched_as_the_contracts_candles(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """OKX has no premium index price candles: whitelisted, with a hole the healer sees
    beside a futures hole it heals, the premium index series keeps its file's candles and
    its hole, and says why."""
    fake = start_fake(venue="okx", history_days=1)
    mark, futures = f"okx:premiumIndex:{PAIR}:1m", f"okx:futures:{PAIR}:1m"
    try:
        data = tmp_path / "data" / "okx"
        _, outside = seed_mark_and_futures(fake, data, "premiumIndex")
        async with live_server(healing(make_settings, fake, data, mark)) as s:
            await heal_both(s, mark, futures)
            assert await stored(s, mark) == outside
            status = await status_of(s, mark)
            assert status["hole_count"] == 1
            assert "imported only, not fetched from the exchange" in status["reason"], status
            assert "healing" not in status["reason"], status
            assert [j["state"] for j in await jobs_of(s, mark)] == ["history-only"]
    finally:
        fake.stop()


async def test_mark_history_over_rest_is_binances_mark_prices_and_refused_where_not_served(
    make_settings: SettingsFactory,
) -> None:
    """With the venues' REST as the history source: Binance's mark klines and OKX's index
    candles (asked by the swap's family) are paged in as each venue sends them; OKX's
    premium index series (OKX has none) is refused, said in its status, and nothing is
    stored for it."""
    binance, okx = start_fake(history_days=1), start_fake(venue="okx", history_days=1)
    try:
        settings = make_settings(**live_settings(
            binance, **okx.settings(), market_history_source="ccxt", live_ingest=False,
            history_download_days=0.25,
        ))  # fmt: skip
        async with live_server(settings) as s:
            got: list[CandleRow] = []

            async def paged() -> bool:
                r = await s.http.get("/api/market/candles", params={"series_id": MARK})
                assert r.status_code in (200, 503), r.text
                got[:] = await all_candles(s, MARK)
                return len(got) >= 300

            await poll(paged, "Binance's mark history to be paged in", timeout=60)
            assert got == venue_marks(binance, got[0][0], got[-1][0])

            okx_index = f"okx:index:{PAIR}:1m"

            async def okx_paged() -> bool:
                r = await s.http.get("/api/market/candles", params={"series_id": okx_index})
                assert r.status_code in (200, 503), r.text
                got[:] = await all_candles(s, okx_index)
                return len(got) >= 300

            await poll(okx_paged, "OKX's index history to be paged in", timeout=60)
            assert got == venue_marks(okx, got[0][0], got[-1][0], "index")

            okx_mark = f"okx:premiumIndex:{PAIR}:1m"
            status: dict[str, Any] = {}

            async def refused() -> bool:
                r = await s.http.get("/api/market/candles", params={"series_id": okx_mark})
                assert r.status_code in (200, 503), r.text
                status.update(await status_of(s, okx_mark))
                return status["state"] == "history_failed"

            await poll(refused, "OKX's premium index history to be refused", timeout=60)
            assert status["reason"].startswith(
                "its history cannot be fetched: premiumIndex series are not fetched from okx"
            ), status
            assert await stored(s, okx_mark) == []
    finally:
        binance.stop()
        okx.stop()


def test_funding_rates_are_imported_and_exported_in_freqtrades_layout(tmp_path: Path) -> None:
    """freqtrade's recorded funding rates (its older layout: the rate in `open`, times a
    few ms past the hour) in, its current layout (`date, funding_rate`) out, read back by
    freqtrade as it read the original."""
    imported = cli(tmp_path, "import", "--datadir", str(DATADIR), "--series", FUNDING)
    assert imported.returncode == 0, imported.stderr
    assert "subsecond 59" in imported.stdout, imported.stdout
    for fmt in ("feather", "jsongz"):
        out = tmp_path / fmt / "binance"
        done = cli(tmp_path, "export", "--datadir", str(out), "--format", fmt, "--series", FUNDING)
        assert done.returncode == 0, done.stdout + done.stderr
        original = freqtrade_rows(DATADIR, "XRP/USDT:USDT", "8h", "feather", "funding_rate")
        assert len(original) == 91 and original[0][1] == 0.0001
        assert freqtrade_rows(out, "XRP/USDT:USDT", "8h", fmt, "funding_rate") == original
    written = feather.read_table(tmp_path / "feather" / "binance" / "futures"
                                 / "XRP_USDT_USDT-8h-funding_rate.feather")  # fmt: skip
    assert written.schema.names == ["date", "funding_rate"]
