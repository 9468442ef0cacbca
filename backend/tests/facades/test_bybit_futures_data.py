"""Bybit's futures data through its facade (issue 36): a contract's mark, index and premium
index klines, funding history and open interest from the store, read by the real ccxt
exactly as from Bybit, and asked of Bybit once."""

from __future__ import annotations

from typing import Any

from tests.conftest import SettingsFactory
from tests.facades.test_facades import clients
from tests.facades.test_funding_rates import without_info
from tests.live_support import clock_of, driven, live_settings, start_fake
from tests.support import live_server

PAIR = "BTC/USDT:USDT"
PATHS = ("/v5/market/mark-price-kline", "/v5/market/index-price-kline",
         "/v5/market/premium-index-price-kline", "/v5/market/funding/history",
         "/v5/market/open-interest")  # fmt: skip


async def test_bybit_futures_data_through_ccxt_is_bybits_own(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(venue="bybit", stepped=True, history_days=3)
    clock = clock_of(fake)

    def asked() -> list[int]:
        return [fake.exchange.rest_requests_by_path.get(p, 0) for p in PATHS]

    async def read(client: Any, since: int) -> list[Any]:
        return [
            await client.fetch_mark_ohlcv(PAIR, "1m", since=since, limit=60),
            await client.fetch_index_ohlcv(PAIR, "1m", since=since, limit=60),
            await client.fetch_premium_index_ohlcv(PAIR, "1m", since=since, limit=60),
            without_info(await client.fetch_funding_rate_history(PAIR, since=since, limit=5)),
            without_info(await client.fetch_open_interest_history(PAIR, "5m", since, 50)),
        ]

    try:
        settings = make_settings(**live_settings(fake, live_companions=False))
        async with (
            driven(clock) as driver,
            live_server(settings, clock) as s,
            clients(s, fake, "futures") as (ours, theirs),
        ):
            with driver.paused():
                since = (int(clock.now()) - 86_400) // 3_600 * 3_600 * 1000
                got, want = await read(ours, since), await read(theirs, since)
                assert got == want
                marks, index, premium, funding, interest = got
                assert len(marks) == 60 and len(funding) >= 3 and len(interest) == 50
                # Each kind its own: not the contract's candles, nor each other.
                own = await ours.fetch_ohlcv(PAIR, "1m", since=since, limit=60)
                assert all(a[1] != b[1] for a, b in zip(own, marks, strict=True))
                assert all(a[1] != b[1] for a, b in zip(marks, index, strict=True))
                assert all(abs(p[4]) < 0.01 for p in premium)  # a rate, not a price
                assert any(f["fundingRate"] < 0 for f in funding)
                assert all(i["openInterestValue"] is None for i in interest)

                # Read again (another bot): from the store, nothing asked of Bybit.
                before = asked()
                assert await read(ours, since) == want
                assert asked() == before
    finally:
        fake.stop()
