"""Binance's funding rate history through the facade (issue 36): from the store, what it
lacks fetched once from Binance's `fundingRate`, each event with the mark price at its
time; read by the real ccxt exactly as from the exchange, and not asked of the exchange
again until a new event can have come."""

from __future__ import annotations

from typing import Any

import pytest

from local_exchange.server import FakeVenue
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.facades.test_facades import clients
from tests.live_support import clock_of, driven, live_settings, start_fake
from tests.support import live_server

PAIR = "BTC/USDT:USDT"
FUNDING = "/fapi/v1/fundingRate"
HOUR = 3_600


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def asked(fake: FakeVenue, path: str) -> int:
    return fake.exchange.rest_requests_by_path.get(path, 0)


def without_info(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ccxt's parsed funding rates, less the raw answer they were parsed from (its
    `info`: compared apart, as Binance's own rows)."""
    return [{k: v for k, v in r.items() if k != "info"} for r in rows]


async def test_funding_rates_are_binances_own_and_asked_once(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(stepped=True, history_days=10)
    clock = clock_of(fake)
    try:
        settings = make_settings(**live_settings(fake, live_companions=False))
        async with driven(clock) as driver, live_server(settings, clock) as s:
            with driver.paused():
                params = {"symbol": "BTCUSDT", "limit": 20}
                ours = await s.http.get(f"/binance{FUNDING}", params=params)
                theirs = await s.http.get(f"{fake.rest_url}{FUNDING}", params=params)
                assert ours.status_code == 200, ours.text
                assert ours.json() == theirs.json()
                events = ours.json()
                assert len(events) == 20
                rates = {float(e["fundingRate"]) for e in events}
                assert min(rates) < 0 < max(rates), "signs kept"

                # A window by time, as freqtrade pages it: the same rows as Binance's.
                window = {"symbol": "BTCUSDT", "startTime": events[3]["fundingTime"] - 1,
                          "endTime": events[12]["fundingTime"], "limit": 1000}  # fmt: skip
                ours = await s.http.get(f"/binance{FUNDING}", params=window)
                assert ours.json() == events[3:13]
                theirs = await s.http.get(f"{fake.rest_url}{FUNDING}", params=window)
                assert theirs.json() == events[3:13]

                # Polled meanwhile by many: the exchange is not asked again.
                before = asked(fake, FUNDING)
                for _ in range(5):
                    again = await s.http.get(f"/binance{FUNDING}", params=params)
                    assert again.json() == events
                assert asked(fake, FUNDING) == before

                # The store keeps them as a series of events: no holes between them.
                series = f"binance:funding_rate:{PAIR}:1h"
                r = await s.http.get("/api/market/series")
                entry = next(e for e in r.json()["series"] if e["series_id"] == series)
                assert entry["count"] >= 20 and entry.get("hole_count", 0) == 0

                # The next event: fetched once its time has come, not before.
                nxt = events[-1]["fundingTime"] // 1000 + 8 * HOUR
                clock.advance(nxt - 10 - clock.now())
                still = await s.http.get(f"/binance{FUNDING}", params=params)
                assert still.json()[-1] == events[-1]
                assert asked(fake, FUNDING) == before + 1, "asked once in the new hour"
                clock.advance(11)
                newer = await s.http.get(f"/binance{FUNDING}", params=params)
                theirs = await s.http.get(f"{fake.rest_url}{FUNDING}", params=params)
                assert newer.json() == theirs.json()
                assert newer.json()[-1]["fundingTime"] == nxt * 1000

                # An hour no event is due in (Binance's are 8 hours apart) costs one
                # ask, however often its first minute is polled; the hour one is due in
                # finds it.
                for hour in (nxt + HOUR, nxt + 7 * HOUR):
                    clock.advance(hour - clock.now())
                    before = asked(fake, FUNDING)
                    for _ in range(12):
                        await s.http.get(f"/binance{FUNDING}", params=params)
                        clock.advance(5)
                    assert asked(fake, FUNDING) == before + 1, hour - nxt
                clock.advance(nxt + 8 * HOUR - clock.now())
                due = await s.http.get(f"/binance{FUNDING}", params=params)
                assert due.json()[-1]["fundingTime"] == (nxt + 8 * HOUR) * 1000

            # ccxt reads them exactly as it reads Binance's.
            async with clients(s, fake, "futures") as (ours_ccxt, theirs_ccxt):
                since = events[0]["fundingTime"]
                got = await ours_ccxt.fetch_funding_rate_history(PAIR, since=since, limit=10)
                want = await theirs_ccxt.fetch_funding_rate_history(PAIR, since=since, limit=10)
                assert without_info(got) == without_info(want) and len(got) == 10
                assert [g["info"] for g in got] == [w["info"] for w in want]
    finally:
        fake.stop()


async def test_every_contracts_funding_rates_are_forwarded(make_settings: SettingsFactory) -> None:
    fake = start_fake(stepped=True)
    clock = clock_of(fake)
    try:
        settings = make_settings(**live_settings(fake, live_companions=False))
        async with driven(clock) as driver, live_server(settings, clock) as s:
            with driver.paused():
                ours = await s.http.get(f"/binance{FUNDING}", params={"limit": 5})
                theirs = await s.http.get(f"{fake.rest_url}{FUNDING}", params={"limit": 5})
                assert ours.status_code == 200
                assert ours.json() == theirs.json()
                bad = await s.http.get(f"/binance{FUNDING}", params={"symbol": "NOPEUSDT"})
                assert bad.status_code == 400 and bad.json()["code"] == -1121
    finally:
        fake.stop()
