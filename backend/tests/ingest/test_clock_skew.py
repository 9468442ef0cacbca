"""A server whose clock is behind the venue's (issue 34, finding 5): every close the venue
sends lies "in the future" for it and is rejected, so it says so instead of staying green:
`/ready` is degraded naming the skew, the series' status says its candles are rejected and
why, and the catch-up whose candles were rejected has a next retry time."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import SettingsFactory
from tests.live_support import (
    OffsetClock,
    clock_of,
    driven,
    jobs_of,
    live_settings,
    start_fake,
)
from tests.support import live_server, poll

LIVE = "binance:spot:BTC/USDT:1m"


async def test_a_server_clock_behind_the_venues_is_said_not_hidden(
    make_settings: SettingsFactory,
) -> None:
    fake = start_fake(venue="binance", stepped=True)
    try:
        settings = make_settings(**live_settings(fake, whitelist=[LIVE]))
        exchange_clock = clock_of(fake)
        behind = OffsetClock(exchange_clock, -90.0)
        async with driven(exchange_clock), live_server(settings, behind) as s:

            async def degraded() -> Any:
                ready = (await s.http.get("/ready")).json()
                return ready["status"] == "degraded" and ready

            await poll(degraded, "/ready to say the clocks disagree", timeout=30)
            problems = (await s.http.get("/ready")).json()["problems"]
            said = [re.search(r"clock is (\d+) s behind binance's", p) for p in problems]
            # 90 s, read over a round trip on a clock running 200 times real time.
            assert any(m and 85 <= int(m.group(1)) <= 95 for m in said), problems
            status = (await s.http.get("/api/market/status", params={"series_id": LIVE})).json()
            assert status["state"] == "retrying", status
            assert re.match(r"rejecting candles: this server's clock is (8[5-9]|9[0-5]) s behind",
                            status["reason"]), status  # fmt: skip

            async def retried() -> bool:
                return any(
                    j["backfill_retry_at"] is not None and "from the future" in j["last_error"]
                    for j in await jobs_of(s, LIVE)
                    if j["last_error"]
                )

            # The venue's newest closes, rejected, are fetched again later: not left be.
            await poll(retried, "the rejected catch-up to have a next retry", timeout=30)
    finally:
        fake.stop()
