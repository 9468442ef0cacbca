"""The OKX-compatible facade (`/okx/api/v5/...`, REST) against the real ccxt and the real
`freqtrade download-data`: what a client reads through it is what it reads from the local
OKX itself, candles from the store (newest first, the forming one first on
`market/candles`), errors in OKX's envelope mapping to the same ccxt exceptions, private
paths going nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest

from app.series import parse_series_id
from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.facades.test_facades import (
    as_ccxt,
    assert_mark_and_funding_files,
    clients,
    download,
    download_config,
    series_of,
)
from tests.freqtrade_support import freqtrade_rows
from tests.live_support import (
    clock_of,
    exchange_history,
    live_settings,
    serving,
    start_fake,
    stepped_fake,
    wait_caught_up,
)
from tests.support import live_server


@pytest.fixture(name="fake")
def local_okx() -> Iterator[FakeVenue]:
    yield from stepped_fake("okx")


@pytest.mark.parametrize("market", ["spot", "futures"])
async def test_candles_through_ccxt_are_the_exchanges(
    make_settings: SettingsFactory, fake: FakeVenue, market: str
) -> None:
    """The newest candles (the forming one last, as ccxt orders them) and a window by
    `since`, of a live series and of one asked for only here."""
    live, asked = series_of(fake, market), series_of(fake, market, "ETH")
    settings = make_settings(**live_settings(fake, whitelist=[live], ondemand_idle_ttl_s=3600))
    async with serving(settings, fake) as s:
        # OKX pages 100 candles: the live catch-up pages its way up meanwhile, so a window
        # of the newest candles may straddle the hole it is filling (and fills it).
        await wait_caught_up(s, fake, live)
        async with clients(s, fake, market) as (ours, _):
            for series_id in (live, asked):
                symbol = parse_series_id(series_id).symbol
                rows = await ours.fetch_ohlcv(symbol, "1m", limit=100)
                assert len(rows) == 100
                closed, forming = rows[:-1], rows[-1]
                first, last = int(closed[0][0]) // 1000, int(closed[-1][0]) // 1000
                assert closed == as_ccxt(exchange_history(fake, series_id, first, last))
                assert int(forming[0]) // 1000 == last + 60
                since = int(rows[0][0]) - 600 * 60_000
                window = await ours.fetch_ohlcv(symbol, "1m", since=since, limit=100)
                assert len(window) == 100 and window[0][0] == since
                start = since // 1000
                assert window == as_ccxt(exchange_history(fake, series_id, start, start + 99 * 60))


async def test_errors_and_private_paths_answer_in_okxs_shape(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    settings = make_settings(**live_settings(fake, live_ingest=False))
    async with serving(settings, fake) as s, clients(s, fake, "spot") as (ours, theirs):
        calls = [
            {"instId": "NOPE-USDT", "bar": "1m"},
            {"instId": "BTC-USDT", "bar": "2m"},
            {"instId": "BTC-USDT", "bar": "1m", "limit": "x"},
        ]
        for params in calls:
            raised = []
            for client in (ours, theirs):
                with pytest.raises(ccxt.BaseError) as e:
                    await client.public_get_market_candles(params)
                raised.append(type(e.value))
            assert raised[0] is raised[1], (params, raised)
        r = await s.http.get("/okx/api/v5/market/candles", params={"instId": "BTC-USDT"})
        assert r.status_code == 200 and r.json()["code"] == "0"
        assert r.json()["data"][0][8] == "0"  # the forming candle first
        r = await s.http.get(
            "/okx/api/v5/market/history-candles", params={"instId": "BTC-USDT", "limit": "500"}
        )
        rows = r.json()["data"]
        assert len(rows) == 300 and {row[8] for row in rows} == {"1"}  # closed only, at most 300
        assert [int(row[0]) for row in rows] == sorted((int(row[0]) for row in rows), reverse=True)
        time = (await s.http.get("/okx/api/v5/public/time")).json()
        assert abs(int(time["data"][0]["ts"]) - fake.exchange.clock.now_ms()) < 120_000
        before = fake.exchange.rest_requests
        for path in ("/api/v5/account/balance", "/api/v5/trade/order", "/api/v5/asset/balances"):
            r = await s.http.get(f"/okx{path}")
            assert r.status_code == 404 and r.json()["data"] == [], (path, r.text)
        signed = await s.http.get(
            "/okx/api/v5/market/tickers", params={"instType": "SPOT"},
            headers={"OK-ACCESS-KEY": "k", "OK-ACCESS-SIGN": "s"},
        )  # fmt: skip
        assert signed.status_code == 404
        assert fake.exchange.rest_requests == before
        # The market list is the exchange's own document.
        assert (await ours.load_markets())["BTC/USDT"]["id"] == "BTC-USDT"
        assert (await ours.load_markets()).keys() == (await theirs.load_markets()).keys()


@pytest.fixture(name="three_days")
def local_okx_with_three_days() -> Iterator[FakeVenue]:
    fake = start_fake(venue="okx", stepped=True, history_days=3)
    try:
        yield fake
    finally:
        fake.stop()


async def test_download_data_through_the_facade(
    make_settings: SettingsFactory, three_days: FakeVenue, tmp_path: Path
) -> None:
    """The real `freqtrade download-data --exchange okx`, pointed at the facade, writes the
    exchange's own candles, two days of them whole: freqtrade and ccxt ask 300 a page, past
    the 1,440 recent candles from `history-candles` too (at 100 a page, two of every three
    hundred candles were holes); a second download asks the exchange for no candle."""
    fake, pair, series_id = three_days, "BTC/USDT", "okx:spot:BTC/USDT:1m"
    # The clock stands still (no candle closes between the downloads), so no budget window
    # turns either: this one client may use all that OKX allows per 2 s (the two days' 10
    # pages fit in it).
    settings = make_settings(**live_settings(
        fake, live_ingest=False, okx_rest_limit_share=1.0, upstream_client_share=1.0,
        upstream_reserve_share=0.0,
    ))  # fmt: skip
    async with live_server(settings, clock_of(fake)) as s:
        config = download_config(tmp_path / "config.json", "okx", f"{s.base_url}/okx", "spot")
        await download(config, tmp_path / "first", pair, "spot", days=2)
        asked = sum(
            n for path, n in fake.exchange.rest_requests_by_path.items() if "candles" in path
        )
        await download(config, tmp_path / "second", pair, "spot", days=2)
        assert (
            sum(n for path, n in fake.exchange.rest_requests_by_path.items() if "candles" in path)
            == asked
        )
    for datadir in ("first", "second"):
        rows = freqtrade_rows(tmp_path / datadir, pair, "1m", "feather", "spot")
        assert len(rows) >= 2 * 1_440 - 1
        assert rows == exchange_history(fake, series_id, rows[0][0], rows[-1][0])


async def test_download_data_of_a_swap_through_the_facade(
    make_settings: SettingsFactory, three_days: FakeVenue, tmp_path: Path
) -> None:
    """`download-data --trading-mode futures --exchange okx` through the facade (issue
    36): the swap's candles, its mark price candles and its funding rates, OKX's own, and
    a second download asks OKX for none of them."""
    fake, pair = three_days, "BTC/USDT:USDT"
    settings = make_settings(**live_settings(
        fake, live_ingest=False, okx_rest_limit_share=1.0, upstream_client_share=1.0,
        upstream_reserve_share=0.0,
    ))  # fmt: skip
    paths = ("candles", "mark-price-candles", "funding-rate-history")

    def asked() -> list[int]:
        counts = fake.exchange.rest_requests_by_path
        return [sum(n for p, n in counts.items() if p.rsplit("/", 1)[-1].endswith(path)
                    and (path != "candles" or "price" not in p)) for path in paths]  # fmt: skip

    async with live_server(settings, clock_of(fake)) as s:
        config = download_config(tmp_path / "config.json", "okx", f"{s.base_url}/okx", "futures")
        await download(config, tmp_path / "first", pair, "futures", days=2)
        before = asked()
        assert all(before), dict(fake.exchange.rest_requests_by_path)
        await download(config, tmp_path / "second", pair, "futures", days=2)
        assert asked() == before
    model = fake.exchange.pair_model("futures", pair)
    for datadir in ("first", "second"):
        rows = freqtrade_rows(tmp_path / datadir, pair, "1m", "feather", "futures")
        assert len(rows) >= 2 * 1_440 - 1
        assert rows == exchange_history(fake, "okx:futures:BTC/USDT:USDT:1m", rows[0][0],
                                        rows[-1][0])  # fmt: skip
        assert_mark_and_funding_files(tmp_path / datadir, pair, model, hours=40)
