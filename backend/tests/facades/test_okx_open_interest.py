"""An OKX swap's open interest (issue 36): fetched from OKX's contract statistics into the
store, kept there after OKX has forgotten it (it keeps the newest 1,440 samples of a
period), and answered by the facade's `rubik/stat/contracts/open-interest-history` as
OKX answers it, read by the real ccxt exactly as from the exchange."""

from __future__ import annotations

from local_exchange.market import open_interest
from tests.conftest import SettingsFactory
from tests.facades.test_facades import clients
from tests.live_support import clock_of, driven, live_settings, start_fake
from tests.support import live_server

PAIR = "BTC/USDT:USDT"
SERIES = f"okx:open_interest:{PAIR}:5m"
PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
FIVE_MINUTES = 300


async def test_okx_open_interest_is_kept_beyond_okxs_days_and_served_as_okx_serves_it(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(venue="okx", stepped=True, history_days=10)
    clock = clock_of(fake)

    def asked() -> int:
        return fake.exchange.rest_requests_by_path.get(PATH, 0)

    try:
        settings = make_settings(**live_settings(fake, live_companions=False))
        async with driven(clock) as driver, live_server(settings, clock) as s:
            with driver.paused():
                now = int(clock.now()) // FIVE_MINUTES * FIVE_MINUTES
                since = now - 149 * FIVE_MINUTES  # (the newest 50 follow it)
                async with clients(s, fake, "futures") as (ours, theirs):
                    # OKX's windows as ccxt reads them: the same here and there.
                    got = await ours.fetch_open_interest_history(
                        PAIR, "5m", since=since * 1000, limit=100
                    )
                    want = await theirs.fetch_open_interest_history(
                        PAIR, "5m", since=since * 1000, limit=100
                    )
                    assert got == want and len(got) == 100
                    times = [since + i * FIVE_MINUTES for i in range(100)]
                    assert [g["timestamp"] // 1000 for g in got] == times
                    model = fake.exchange.models["futures"]["BTCUSDT"]
                    assert [(g["openInterestAmount"], g["openInterestValue"]) for g in got] == [
                        tuple(float(x) for x in open_interest(model, t)) for t in times
                    ]
                    clock.advance(2)  # (this server's share of OKX's 5 asks in 2 s: 1)
                    newest = await ours.fetch_open_interest_history(PAIR, "5m", limit=50)
                    assert newest == await theirs.fetch_open_interest_history(PAIR, "5m", limit=50)
                    assert newest[-1]["timestamp"] // 1000 == now

                    # Read again: from the store, OKX not asked.
                    before = asked()
                    again = await ours.fetch_open_interest_history(
                        PAIR, "5m", since=since * 1000, limit=100
                    )
                    assert again == got and asked() == before

                    # Six days on, OKX has forgotten that window; the store has not.
                    clock.advance(6 * 86_400)
                    gone = await theirs.fetch_open_interest_history(
                        PAIR, "5m", since=since * 1000, limit=100
                    )
                    assert gone == []
                    before = asked()
                    kept = await ours.fetch_open_interest_history(
                        PAIR, "5m", since=since * 1000, limit=100
                    )
                    assert kept == got and asked() == before

                r = await s.http.get("/api/market/series")
                entry = next(e for e in r.json()["series"] if e["series_id"] == SERIES)
                assert entry["count"] == 150 and entry.get("hole_count", 0) == 0, entry

                # A coarser period is OKX's own, forwarded; a bad request is OKX's error.
                hourly = {"instId": "BTC-USDT-SWAP", "period": "1H", "limit": "3"}
                ours_hourly = await s.http.get(f"/okx{PATH}", params=hourly)
                theirs_hourly = await s.http.get(f"{fake.rest_url}{PATH}", params=hourly)
                assert ours_hourly.json() == theirs_hourly.json()
                assert len(ours_hourly.json()["data"]) == 3
                bad = await s.http.get(f"/okx{PATH}", params={"instId": "BTC-USDT"})
                assert bad.status_code == 400 and bad.json()["code"] == "51001"
                metrics = (await s.http.get("/metrics")).text
                served = [line for line in metrics.splitlines() if line.startswith(
                    "trade_canvas_facade_requests_total") and "open-interest" in line]  # fmt: skip
                assert any('source="store"' in a for a in served), served
    finally:
        fake.stop()
