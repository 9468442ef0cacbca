"""The companion keeper through the venue's faults (issue 36): a REST ban and failed
requests pause the keeping of a contract's mark price, funding rate and open interest,
and once the venue answers again each is caught up, gap-free and the venue's own."""

from __future__ import annotations

import pytest

from local_exchange.market import funding_rate, open_interest
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.history.test_derived_prices import status_of
from tests.live_support import clock_of, live_settings, serving, start_fake, stored
from tests.support import poll

PAIR = "BTC/USDT:USDT"
CONTRACT = f"binance:futures:{PAIR}:1m"
MARK, FUNDING = f"binance:mark:{PAIR}:1h", f"binance:funding_rate:{PAIR}:1h"
INTEREST = f"binance:open_interest:{PAIR}:5m"
HOUR = 3_600


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_companions_are_caught_up_after_a_ban_and_failures(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(stepped=True, history_days=2)
    clock = clock_of(fake)
    model = fake.exchange.pair_model("futures", PAIR)
    settings = make_settings(**live_settings(
        fake, whitelist=[CONTRACT], live_backfill_max_candles=600, live_companions_every_s=10,
    ))  # fmt: skip
    try:
        async with serving(settings, fake) as server:

            async def kept() -> bool:
                held = [await stored(server, s) for s in (MARK, FUNDING, INTEREST)]
                return all(held)

            await poll(kept, "the contract's companions to be kept", timeout=60)
            banned_at = int(clock.now())
            fake.exchange.ban_rest(2 * HOUR)  # Binance's 418 for two hours of its clock

            async def ban_over() -> bool:
                return fake.exchange.ban_left() == 0

            await poll(ban_over, "the ban to run out", timeout=120)
            fake.exchange.fail_rest(3)  # then three overloaded answers

            async def caught_up() -> bool:
                now = int(clock.now())
                interest = await stored(server, INTEREST)
                marks = await stored(server, MARK)
                return (
                    bool(interest) and interest[-1][0] >= now // 300 * 300 - 600
                    and bool(marks) and marks[-1][0] >= now // HOUR * HOUR - 2 * HOUR
                    and interest[-1][0] > banned_at + 2 * HOUR
                )  # fmt: skip

            await poll(caught_up, "the companions to catch up after the ban", timeout=120)
            marks = await stored(server, MARK)
            events = await stored(server, FUNDING)
            interest = await stored(server, INTEREST)
            for series in (MARK, INTEREST):
                assert (await status_of(server, series))["hole_count"] == 0, series
    finally:
        fake.stop()
    # Gap-free, and the venue's own values across the ban.
    assert [m[0] for m in marks] == list(range(marks[0][0], marks[-1][0] + 1, HOUR))
    for t, o, h, low, c, _ in marks:
        k = model.derived("mark", model.kline("1h", t))
        assert (o, h, low, c) == (float(k.open), float(k.high), float(k.low), float(k.close))
    assert [r[0] for r in interest] == list(range(interest[0][0], interest[-1][0] + 1, 300))
    assert all((f"{r[1]:.8f}", f"{r[5]:.8f}") == open_interest(model, r[0]) for r in interest)
    assert [e[0] for e in events] == list(range(events[0][0], events[-1][0] + 1, 8 * HOUR))
    assert [e[1] for e in events] == [float(funding_rate(e[0])) for e in events]
