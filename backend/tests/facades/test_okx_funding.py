"""An OKX swap's funding history (issue 36): OKX pages it only back from a time, so it is
fetched back from the window's end, every event, more than one page of them; the facade's
`public/funding-rate-history` answers from the store as OKX does, read by the real ccxt
exactly as from the exchange."""

from __future__ import annotations

from typing import Any

from local_exchange.market import funding_rate
from tests.conftest import SettingsFactory
from tests.facades.test_facades import clients
from tests.live_support import clock_of, driven, live_settings, start_fake
from tests.support import live_server

PAIR = "BTC/USDT:USDT"
SERIES = f"okx:funding_rate:{PAIR}:1h"
FUNDING = "/api/v5/public/funding-rate-history"
EIGHT_HOURS = 8 * 3_600


async def test_okx_funding_is_fetched_back_page_by_page_and_served_as_okx_serves_it(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(venue="okx", stepped=True, history_days=50)
    clock = clock_of(fake)
    try:
        settings = make_settings(**live_settings(fake, live_companions=False))
        async with driven(clock) as driver, live_server(settings, clock) as s:
            with driver.paused():
                now = int(clock.now())
                last = now // EIGHT_HOURS * EIGHT_HOURS
                first = (fake.exchange.listing_time // EIGHT_HOURS + 1) * EIGHT_HOURS
                times = list(range(first, last + 1, EIGHT_HOURS))
                assert len(times) > 100
                async with clients(s, fake, "futures") as (ours, theirs):
                    # Every funding OKX has kept (150 of them, two pages and more), exact,
                    # fetched back from now page by page.
                    got: list[dict[str, Any]] = await ours.fetch_funding_rate_history(
                        PAIR, limit=300
                    )
                    assert [(g["timestamp"] // 1000, g["fundingRate"]) for g in got] == [
                        (t, float(funding_rate(t))) for t in times
                    ]
                    assert fake.exchange.rest_requests_by_path.get(FUNDING, 0) >= 2
                    r = await s.http.get(
                        "/api/market/candles", params={"series_id": SERIES, "limit": 5000}
                    )
                    held = [(c["candle_time"], c["open"]) for c in r.json()["candles"]]
                    assert held == [(t, float(funding_rate(t))) for t in times]

                    # OKX's own pages, as ccxt reads them: the same here and there.
                    got = await ours.fetch_funding_rate_history(PAIR, limit=100)
                    assert got == await theirs.fetch_funding_rate_history(PAIR, limit=100)
                    assert [g["timestamp"] // 1000 for g in got] == times[-100:]
                    older = {"after": str(times[-100] * 1000)}  # OKX's: older than
                    got = await ours.fetch_funding_rate_history(PAIR, limit=20, params=older)
                    assert got == await theirs.fetch_funding_rate_history(
                        PAIR, limit=20, params=older
                    )
                    assert [g["timestamp"] // 1000 for g in got] == times[-120:-100]
                metrics = (await s.http.get("/metrics")).text
                answers = [line for line in metrics.splitlines() if line.startswith(
                    "trade_canvas_facade_requests_total") and "funding" in line]  # fmt: skip
                assert answers and all('source="store"' in a for a in answers), answers

                bad = await s.http.get(f"/okx{FUNDING}", params={"instId": "BTC-USDT"})
                assert bad.status_code == 400
                assert bad.json()["code"] == "51001"
    finally:
        fake.stop()
