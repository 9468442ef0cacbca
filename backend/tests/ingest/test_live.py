"""Live ingest end to end, for every venue through the same tests: the local exchange
(Binance or Bybit) over real sockets, the real server, real WebSocket clients. Exchange and
server share one stepped clock, driven fast, so no timer (staleness, close grace, backoff,
a fault's length) waits out real seconds. Each fault test ends with the store equal to the
exchange's history."""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Any

import pytest

from local_exchange.server import FakeVenue
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.live_support import (
    VENUES,
    assert_store_matches_exchange,
    clock_of,
    driven,
    each_venue,  # noqa: F401 (the `fake` fixture)
    fut_of,
    live_settings,
    serving,
    start_fake,
    stored,
    wait_candles_close,
    wait_caught_up,
)
from tests.support import live_server, metric_value, poll, recv_json, send_json


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return str(request.param)


def spot_of(fake: FakeVenue) -> str:
    return f"{fake.name}:spot:ETH/USDT:1m"


async def test_forming_is_streamed_closed_is_stored_then_broadcast(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    clock = clock_of(fake)
    settings = make_settings(**live_settings(fake))
    async with driven(clock) as driver, live_server(settings, clock) as s, s.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": fut_of(fake)})
        assert (await recv_json(ws))["type"] == "catchup"
        forming: list[dict[str, Any]] = []
        closed: list[dict[str, Any]] = []
        while len(closed) < 3:
            msg = await recv_json(ws, 10)
            if msg["type"] == "candle_forming":
                forming.append(msg["candle"])
            elif msg["type"] == "candle_closed":
                closed.append(msg["candle"])
                # Broadcast only after commit: the HTTP read already has it.
                assert msg["candle"] in [
                    {"candle_time": c[0], "open": c[1], "high": c[2], "low": c[3],
                     "close": c[4], "volume": c[5]}
                    for c in await stored(s, fut_of(fake))
                ]  # fmt: skip
        times = [c["candle_time"] for c in closed]
        assert times == sorted(set(times))
        assert forming, "forming updates reached the client"
        with driver.paused():
            # Time stands still: the candle forming now cannot close meanwhile, so it
            # must not be in the store.
            forming_now = int(clock.now()) // 60 * 60
            assert max(c[0] for c in await stored(s, fut_of(fake))) < forming_now
        await assert_store_matches_exchange(s, fake, fut_of(fake))
        text = (await s.http.get("/metrics")).text
        assert f'trade_canvas_ingest_forming_received_total{{series_id="{fut_of(fake)}"}}' in text


async def test_many_series_share_batches(make_settings: SettingsFactory, fake: FakeVenue) -> None:
    whitelist = [fut_of(fake, b) for b in ("BTC", "ETH", "BNB", "SOL", "XRP")]
    settings = make_settings(**live_settings(fake, whitelist=whitelist))
    async with serving(settings, fake) as s:
        for sid in whitelist:
            await wait_caught_up(s, fake, sid)
        before_rows = {sid: await metric_value_l(s, "trade_canvas_ingest_rows_written_total", sid)
                       for sid in whitelist}  # fmt: skip
        batches_before = await metric_value(s, "trade_canvas_ingest_batch_db_seconds_count")

        async def new_rows() -> float:
            rows = 0.0
            for sid in whitelist:
                rows += await metric_value_l(s, "trade_canvas_ingest_rows_written_total", sid)
                rows -= before_rows[sid]
            return rows

        # Three closes of each series; reading the batch count first keeps rows >= what
        # those batches wrote.
        await poll(lambda: _at_least(new_rows(), 15), "three closes of each series", every=0.1)
        batches = await metric_value(s, "trade_canvas_ingest_batch_db_seconds_count")
        rows = await new_rows()
        batches -= batches_before
        assert rows >= 10
        assert batches <= rows / 2  # five series closing together share a transaction
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert {j["state"] for j in debug["jobs"]} == {"live"}
        # Subscribing five series stayed under the exchange's incoming-message limit.
        assert await metric_value(s, "trade_canvas_ingest_reconnects_total") == 0
        assert (
            len(debug["connections"][f"{fake.name}:futures"]) == 1
        )  # one connection carries them all
        for sid in whitelist:
            await assert_store_matches_exchange(s, fake, sid)


async def metric_value_l(s: Any, name: str, series_id: str) -> float:
    text = (await s.http.get("/metrics")).text
    needle = f'{name}{{series_id="{series_id}"}} '
    for line in text.splitlines():
        if line.startswith(needle):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _live_for(s: Any, fake: FakeVenue, sid: str) -> None:
    await s.http.get("/api/market/candles", params={"series_id": sid})
    await wait_caught_up(s, fake, sid)


@pytest.mark.parametrize("market", ["futures", "spot"])
async def test_dropped_connections_many_times(
    make_settings: SettingsFactory, fake: FakeVenue, market: str
) -> None:
    sid = fut_of(fake) if market == "futures" else spot_of(fake)
    settings = make_settings(**live_settings(fake, whitelist=[sid]))
    async with serving(settings, fake) as s:
        await wait_caught_up(s, fake, sid)
        for drops in range(1, 6):
            await poll(lambda: fake.run(market, lambda w: len(w._clients)) > 0, "reconnect")  # type: ignore[arg-type]
            fake.run(market, lambda w: w.drop_all())  # type: ignore[arg-type]
            seen = partial(_metric_at_least, s, "trade_canvas_ingest_reconnects_total", drops)
            await poll(seen, "the drop to be seen")
        await wait_caught_up(s, fake, sid)
        assert await metric_value(s, "trade_canvas_ingest_reconnects_total") >= 5
        await assert_store_matches_exchange(s, fake, sid)


async def test_stall_is_detected_and_healed(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    async with serving(make_settings(**live_settings(fake, whitelist=[fut_of(fake)])), fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        fake.run("futures", lambda w: w.stall(240))
        await poll(lambda: _reconnects(s), "a reconnect after the stall", 10)
        await wait_caught_up(s, fake, fut_of(fake))
        await assert_store_matches_exchange(s, fake, fut_of(fake))


async def _reconnects(s: Any) -> bool:
    return await metric_value(s, "trade_canvas_ingest_reconnects_total") >= 1


async def test_refused_reconnects(make_settings: SettingsFactory, fake: FakeVenue) -> None:
    async with serving(make_settings(**live_settings(fake, whitelist=[fut_of(fake)])), fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        fake.run("futures", lambda w: w.refuse(180))
        fake.run("futures", lambda w: w.drop_all())
        await poll(lambda: fake.run("futures", lambda w: w.connections_refused) >= 2,
                   "refused attempts")  # fmt: skip
        await wait_caught_up(s, fake, fut_of(fake))
        await assert_store_matches_exchange(s, fake, fut_of(fake))


async def test_a_closed_kline_that_never_comes_is_fetched(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    async with serving(make_settings(**live_settings(fake, whitelist=[fut_of(fake)])), fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        backfilled = await metric_value_l(s, "trade_canvas_ingest_backfilled_total", fut_of(fake))
        fake.run("futures", lambda w: w.omit_closes(3))

        async def fetched() -> bool:
            now = await metric_value_l(s, "trade_canvas_ingest_backfilled_total", fut_of(fake))
            return now > backfilled

        await poll(fetched, "the missing closes to be fetched over REST")
        await wait_caught_up(s, fake, fut_of(fake))
        assert await metric_value(s, "trade_canvas_ingest_reconnects_total") == 0
        await assert_store_matches_exchange(s, fake, fut_of(fake))


async def test_late_closes_are_not_fetched_twice(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    settings = make_settings(**live_settings(fake, whitelist=[fut_of(fake)], live_close_grace_s=60))
    async with serving(settings, fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        fake.run("futures", lambda w: w.delay_closes(18))
        await wait_candles_close(fake, 3)
        await wait_caught_up(s, fake, fut_of(fake))
        await assert_store_matches_exchange(s, fake, fut_of(fake))


async def test_server_shutdown_event(make_settings: SettingsFactory, fake: FakeVenue) -> None:
    async with serving(make_settings(**live_settings(fake, whitelist=[spot_of(fake)])), fake) as s:
        await wait_caught_up(s, fake, spot_of(fake))
        await fake.call_async(fake.ws["spot"].server_shutdown())
        await poll(lambda: _reconnects(s), "a reconnect after serverShutdown")
        await wait_candles_close(fake, 2)
        await wait_caught_up(s, fake, spot_of(fake))
        await assert_store_matches_exchange(s, fake, spot_of(fake))


async def test_garbage_frames_are_counted_and_ignored(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    async with serving(make_settings(**live_settings(fake, whitelist=[fut_of(fake)])), fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        fake.run("futures", lambda w: w.send_garbage(5))
        await poll(
            lambda: _metric_at_least(s, "trade_canvas_ingest_bad_frames_total", 15), "bad frames"
        )
        await wait_candles_close(fake, 2)
        await wait_caught_up(s, fake, fut_of(fake))
        assert await metric_value(s, "trade_canvas_ingest_reconnects_total") == 0
        await assert_store_matches_exchange(s, fake, fut_of(fake))


async def _metric_at_least(s: Any, name: str, value: float) -> bool:
    return await metric_value(s, name) >= value


async def _at_least(value: Awaitable[float], bound: float) -> bool:
    return await value >= bound


async def test_server_restarted_mid_stream(make_settings: SettingsFactory, fake: FakeVenue) -> None:
    settings = make_settings(**live_settings(fake, whitelist=[fut_of(fake)]))
    clock = clock_of(fake)
    async with driven(clock), live_server(settings, clock) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        # A live close can make the head current before the first REST page of the empty
        # store's backfill is in: wait for that page, or `first` is read too early.
        await poll(
            lambda: _stored_at_least(s, fut_of(fake), settings.live.backfill_max_candles),
            "the backfill",
        )
        first = (await stored(s, fut_of(fake)))[0][0]
    async with driven(clock):
        await wait_candles_close(fake, 3)  # the market moves on while trade-canvas is down
    async with driven(clock), live_server(settings, clock) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        got = await assert_store_matches_exchange(s, fake, fut_of(fake))
        assert got[0][0] == first


async def test_more_streams_than_one_connection_carries(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    whitelist = [fut_of(fake, b) for b in ("BTC", "ETH", "BNB")]
    settings = make_settings(
        **live_settings(
            fake,
            whitelist=whitelist,
            binance_ws_streams_per_connection=2,
            bybit_ws_topics_per_connection=2,
            okx_ws_channels_per_connection=2,
        )
    )
    async with serving(settings, fake) as s:
        for sid in whitelist:
            await wait_caught_up(s, fake, sid)
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert [c["streams"] for c in debug["connections"][f"{fake.name}:futures"]] == [2, 1]
        assert fake.run("futures", lambda w: len(w._clients)) == 2


async def test_reconnects_ahead_of_the_connection_age_limit(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    if fake.name != "binance":
        pytest.skip("only Binance cuts connections at an age (24 hours)")
    settings = make_settings(
        **live_settings(fake, whitelist=[fut_of(fake)], binance_ws_max_connection_age_s=90)
    )
    async with serving(settings, fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        await poll(lambda: _metric_at_least(s, "trade_canvas_ingest_reconnects_total", 2),
                   "planned reconnects")  # fmt: skip
        await wait_caught_up(s, fake, fut_of(fake))
        await assert_store_matches_exchange(s, fake, fut_of(fake))


async def test_a_refused_connect_after_a_planned_reconnect_backs_off(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """Only the reconnect ahead of the age cut is immediate: the attempts refused after it
    back off as any failed connect does, instead of spending the connect budget at once."""
    if fake.name != "binance":
        pytest.skip("only Binance cuts connections at an age (24 hours)")
    settings = make_settings(
        **live_settings(fake, whitelist=[fut_of(fake)], binance_ws_max_connection_age_s=90)
    )
    async with serving(settings, fake) as s:
        await wait_caught_up(s, fake, fut_of(fake))
        fake.run("futures", lambda w: w.refuse(180))
        await poll(lambda: fake.run("futures", lambda w: w.connections_refused) >= 1,
                   "a refused reconnect after the age cut")  # fmt: skip
        await wait_caught_up(s, fake, fut_of(fake))
        # Backoff from 30 s (capped there) allows a handful in 180 s, not hundreds.
        assert fake.run("futures", lambda w: w.connections_refused) <= 12
        await assert_store_matches_exchange(s, fake, fut_of(fake))


@pytest.mark.parametrize("venue", VENUES)
async def test_the_exchanges_connection_cut(make_settings: SettingsFactory, venue: str) -> None:
    from dataclasses import replace

    from tests.live_support import FAST

    cut = replace(FAST, max_connection_s=90)
    fake = start_fake(limits=cut, venue=venue, stepped=True)
    try:
        async with serving(
            make_settings(**live_settings(fake, whitelist=[fut_of(fake)])), fake
        ) as s:
            await wait_caught_up(s, fake, fut_of(fake))
            await poll(lambda: fake.run("futures", lambda w: w.connections_accepted) >= 3,
                       "connections cut and re-opened")  # fmt: skip
            await wait_caught_up(s, fake, fut_of(fake))
            await assert_store_matches_exchange(s, fake, fut_of(fake))
    finally:
        fake.stop()


async def _stored_at_least(s: Any, series_id: str, n: int) -> bool:
    return len(await stored(s, series_id)) >= n
