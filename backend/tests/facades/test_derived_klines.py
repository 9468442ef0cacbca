"""Binance's mark, index and premium index price klines, and an OKX swap's mark and index
price candles, through the facades (issue 36): from the store, what the store lacks
fetched once from the venue's own endpoints, read by the real ccxt exactly as it reads
them from the exchange."""

from __future__ import annotations

from typing import Any

import pytest

from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.facades.test_facades import clients
from tests.live_support import live_settings, serving, start_fake
from tests.support import LiveServer

PAIR = "BTC/USDT:USDT"
# ccxt's method for each kind (each sends Binance's own endpoint for it).
FETCH = {"mark": "fetch_mark_ohlcv", "index": "fetch_index_ohlcv",
         "premiumIndex": "fetch_premium_index_ohlcv"}  # fmt: skip


def venue_rows(fake: FakeVenue, kind: str, first: int, last: int) -> list[list[float]]:
    """The local Binance's own `kind` klines of the contract, as ccxt rows."""
    model = fake.exchange.pair_model("futures", PAIR)
    rows = []
    for t in range(first, last + 1, 60):
        k = model.derived(kind, model.kline("1m", t))  # type: ignore[arg-type]
        rows.append([t * 1000, float(k.open), float(k.high), float(k.low), float(k.close), 0.0])
    return rows


async def stored(s: LiveServer, series_id: str) -> list[list[float]]:
    r = await s.http.get("/api/market/candles", params={"series_id": series_id, "limit": 5000})
    assert r.status_code == 200, r.text
    return [[c["candle_time"] * 1000, c["open"], c["high"], c["low"], c["close"], c["volume"]]
            for c in r.json()["candles"]]  # fmt: skip


@pytest.mark.parametrize("kind", list(FETCH))
async def test_derived_klines_through_ccxt_are_binances_own(
    make_settings: SettingsFactory, kind: str
) -> None:
    fake = start_fake(stepped=True)
    try:
        settings = make_settings(**live_settings(fake))
        async with serving(settings, fake) as s, clients(s, fake, "futures") as (ours, theirs):
            got: list[list[Any]] = await getattr(ours, FETCH[kind])(PAIR, "1m", limit=100)
            assert len(got) == 100
            closed = got[:-1]  # the newest row is the candle forming, as Binance sends it
            first, last = closed[0][0] // 1000, closed[-1][0] // 1000
            assert closed == venue_rows(fake, kind, first, last)
            model = fake.exchange.pair_model("futures", PAIR)
            opened = got[-1][0] // 1000
            assert opened == last + 60
            forming = model.derived(kind, model.kline("1m", opened))  # type: ignore[arg-type]
            assert got[-1][1] == float(forming.open)
            # Not the contract's own candles: those differ at every time.
            own = await ours.fetch_ohlcv(PAIR, "1m", since=first * 1000, limit=10)
            assert all(a[1] != b[1] for a, b in zip(own, closed, strict=False))

            # Read by `since` as freqtrade pages it: the same rows, here and at Binance.
            page = await getattr(ours, FETCH[kind])(PAIR, "1m", since=first * 1000, limit=20)
            theirs_page = await getattr(theirs, FETCH[kind])(
                PAIR, "1m", since=first * 1000, limit=20
            )
            assert page == theirs_page == closed[:20]
            # Kept: the store holds what was fetched, as the series of its kind.
            held = {r[0]: r for r in await stored(s, f"binance:{kind}:{PAIR}:1m")}
            assert [held.get(r[0]) for r in closed] == closed
    finally:
        fake.stop()


async def test_a_missing_pair_parameter_is_binances_error(make_settings: SettingsFactory) -> None:
    fake = start_fake(stepped=True)
    try:
        async with serving(make_settings(**live_settings(fake)), fake) as s:
            # Index klines name the pair, not a contract symbol.
            r = await s.http.get("/binance/fapi/v1/indexPriceKlines", params={"interval": "1m"})
            assert r.status_code == 400
            assert r.json() == {
                "code": -1102,
                "msg": "Mandatory parameter 'pair' was not sent, was empty/null, or malformed.",
            }
    finally:
        fake.stop()


@pytest.mark.parametrize("kind", ["mark", "index"])
async def test_okx_mark_and_index_candles_through_ccxt_are_okxs_own(
    make_settings: SettingsFactory, kind: str
) -> None:
    """`market/mark-price-candles` by the swap's id, `market/index-candles` by its family,
    and their `history-` forms as ccxt pages them by `since`: rows `[ts, o, h, l, c,
    confirm]` from the store (which the read starts following live), as OKX sends them."""
    fake = start_fake(venue="okx", stepped=True)
    try:
        settings = make_settings(**live_settings(fake))
        async with serving(settings, fake) as s, clients(s, fake, "futures") as (ours, theirs):
            got: list[list[Any]] = await getattr(ours, FETCH[kind])(PAIR, "1m", limit=100)
            assert len(got) == 100
            closed = got[:-1]  # the newest row is the candle forming, as OKX sends it
            first, last = closed[0][0] // 1000, closed[-1][0] // 1000
            assert [r[:5] for r in closed] == [r[:5] for r in venue_rows(fake, kind, first, last)]
            assert got[-1][0] // 1000 == last + 60
            page = await getattr(ours, FETCH[kind])(PAIR, "1m", since=first * 1000, limit=20)
            theirs_page = await getattr(theirs, FETCH[kind])(
                PAIR, "1m", since=first * 1000, limit=20
            )
            assert page == theirs_page == closed[:20]
            held = {r[0]: r[:5] for r in await stored(s, f"okx:{kind}:{PAIR}:1m")}
            assert [held.get(r[0]) for r in closed] == [r[:5] for r in closed]
            # Each of ccxt's reads answered from the store, none forwarded.
            metrics = (await s.http.get("/metrics")).text
            answers = [line for line in metrics.splitlines() if line.startswith(
                "trade_canvas_facade_requests_total") and "candles" in line]  # fmt: skip
            assert answers and all('source="store"' in a for a in answers), answers
    finally:
        fake.stop()
