"""`GET /api/market/exchanges` and the venue fields of `GET /api/market/series`, from the
market list of the local Binance (its exchangeInfo, read through ccxt)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import FakeRest, SettingsFactory
from tests.support import SERIES, T0, candle, live_server, poll


def rest_settings(make_settings: SettingsFactory, fake: FakeRest) -> Any:
    return make_settings(binance_spot_rest_url=fake.url, binance_futures_rest_url=fake.url)


async def test_exchanges_lists_markets_timeframes_and_symbols_with_ticks(
    make_settings: SettingsFactory,
    fake_binance: FakeRest,
    fake_bybit: FakeRest,
    fake_okx: FakeRest,
) -> None:
    settings = make_settings(
        binance_spot_rest_url=fake_binance.url,
        binance_futures_rest_url=fake_binance.url,
        bybit_rest_url=fake_bybit.url,
        okx_rest_url=fake_okx.url,
    )
    async with live_server(settings) as s:
        r = await s.http.get("/api/market/exchanges")
        assert r.status_code == 200, r.text
        binance, bybit, okx = r.json()["exchanges"]
        assert (binance["exchange"], binance["title"]) == ("binance", "Binance")
        markets = {m["market"]: m for m in binance["markets"]}
        assert set(markets) == {"spot", "futures"}
        spot = markets["spot"]
        assert spot["catalog_error"] is None
        assert "1m" in spot["timeframes"] and "8h" in spot["timeframes"]
        symbols = {e["symbol"]: e for e in spot["symbols"]}
        model = fake_binance.exchange.models["spot"]["BTCUSDT"]
        assert symbols["BTC/USDT"]["exchange_symbol"] == "BTCUSDT"
        assert symbols["BTC/USDT"]["price_tick"] == pytest.approx(10**-model.decimals, rel=1e-12)
        assert symbols["BTC/USDT"]["amount_step"] == 0.00001
        assert set(symbols) == {"BTC/USDT", "ETH/USDT", "BNB/USDT", "SOL/USDT", "XRP/USDT",
                                "ADA/USDT", "ETH/BTC"}  # fmt: skip
        futures = {e["symbol"] for e in markets["futures"]["symbols"]}
        assert "BTC/USDT:USDT" in futures

        # Bybit's list comes from its v5 instruments-info, through the same catalog.
        assert bybit["exchange"] == "bybit"
        bybit_markets = {m["market"]: m for m in bybit["markets"]}
        assert bybit_markets["spot"]["timeframes"] == [
            "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w",
        ]  # fmt: skip
        linear = {e["symbol"]: e for e in bybit_markets["futures"]["symbols"]}
        eth = fake_bybit.exchange.models["futures"]["ETHUSDT"]
        assert linear["ETH/USDT:USDT"]["exchange_symbol"] == "ETHUSDT"
        assert linear["ETH/USDT:USDT"]["price_tick"] == pytest.approx(10**-eth.decimals)
        assert linear["ETH/USDT:USDT"]["amount_step"] == 0.001
        assert bybit_markets["spot"]["catalog_error"] is None

        # OKX's from its v5 public/instruments (SPOT and SWAP): instrument ids, tickSz, lotSz.
        assert (okx["exchange"], okx["title"]) == ("okx", "OKX")
        okx_markets = {m["market"]: m for m in okx["markets"]}
        assert okx_markets["spot"]["catalog_error"] is None
        assert "8h" not in okx_markets["futures"]["timeframes"]
        okx_spot = {e["symbol"]: e for e in okx_markets["spot"]["symbols"]}
        btc = fake_okx.exchange.models["spot"]["BTCUSDT"]
        assert okx_spot["BTC/USDT"]["exchange_symbol"] == "BTC-USDT"
        assert okx_spot["BTC/USDT"]["price_tick"] == pytest.approx(10**-btc.decimals)
        assert okx_spot["BTC/USDT"]["amount_step"] == 0.00000001
        swaps = {e["symbol"]: e for e in okx_markets["futures"]["symbols"]}
        assert swaps["ETH/USDT:USDT"]["exchange_symbol"] == "ETH-USDT-SWAP"
        assert swaps["ETH/USDT:USDT"]["amount_step"] == 0.001


async def test_series_entries_carry_their_parts_and_tick(
    make_settings: SettingsFactory, fake_binance: FakeRest
) -> None:
    async with live_server(rest_settings(make_settings, fake_binance)) as s:
        assert (await s.ingest(SERIES, candle(T0))).status_code == 200
        assert (await s.http.get("/api/market/exchanges")).status_code == 200  # loads the list
        [entry] = (await s.http.get("/api/market/series")).json()["series"]
        model = fake_binance.exchange.models["spot"]["BTCUSDT"]
        assert entry["series_id"] == SERIES
        assert (entry["exchange"], entry["market"], entry["symbol"], entry["timeframe"]) == (
            "binance", "spot", "BTC/USDT", "1m",
        )  # fmt: skip
        assert entry["price_tick"] == pytest.approx(10**-model.decimals, rel=1e-12)
        assert entry["count"] == 1 and entry["head_time"] == T0


async def test_whitelisted_series_are_listed_with_their_tick_from_the_start(
    make_settings: SettingsFactory, fake_binance: FakeRest, fake_bybit: FakeRest
) -> None:
    """Nothing has to ask for `/api/market/exchanges` first: a server that runs series live
    loads their venues' market lists as it starts."""
    whitelist = ["binance:spot:BTC/USDT:1m", "bybit:futures:ETH/USDT:USDT:5m"]
    settings = make_settings(
        binance_spot_rest_url=fake_binance.url,
        binance_futures_rest_url=fake_binance.url,
        bybit_rest_url=fake_bybit.url,
        live_ingest=True,
        whitelist=whitelist,
    )
    expected = {
        whitelist[0]: 10 ** -fake_binance.exchange.models["spot"]["BTCUSDT"].decimals,
        whitelist[1]: 10 ** -fake_bybit.exchange.models["futures"]["ETHUSDT"].decimals,
    }
    async with live_server(settings) as s:
        ticks: dict[str, float | None] = {}

        async def listed_with_ticks() -> bool:
            listing = (await s.http.get("/api/market/series")).json()["series"]
            ticks.update({e["series_id"]: e["price_tick"] for e in listing})
            return all(ticks.get(sid) is not None for sid in whitelist)

        await poll(listed_with_ticks, "the whitelisted series' ticks")
        assert ticks == pytest.approx(expected, rel=1e-12)


async def test_an_unreachable_venue_is_reported_not_a_5xx(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        binance_spot_rest_url="http://127.0.0.1:9", binance_futures_rest_url="http://127.0.0.1:9"
    )
    async with live_server(settings) as s:
        r = await s.http.get("/api/market/exchanges")
        assert r.status_code == 200, r.text
        for market in r.json()["exchanges"][0]["markets"]:
            assert market["symbols"] == [] and market["catalog_error"]
        assert (await s.ingest(SERIES, candle(T0))).status_code == 200
        [entry] = (await s.http.get("/api/market/series")).json()["series"]
        assert entry["price_tick"] is None and entry["symbol"] == "BTC/USDT"
