"""What an exchange says is untrusted input: frames from the future, closes that would
rewrite stored history, oversized frames, and REST refused by a ban cannot lose or corrupt a
series. For every venue, the local exchange over real sockets (frames injected as the venue
would send them), the real server on the exchange's stepped clock, real WebSocket clients."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from app.series import parse_series_id
from local_exchange.market import Kline
from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.live_support import (
    assert_store_matches_exchange,
    clock_of,
    driven,
    each_venue,  # noqa: F401 (the `fake` fixture)
    exchange_history,
    fut_of,
    jobs_of,
    live_settings,
    newest_closed,
    start_fake,
    stored,
    wait_backfilled,
    wait_candles_close,
    wait_caught_up,
)
from tests.support import LiveServer, live_server, poll, recv_json, send_json

HOUR = 3_600


def topic_of(s: LiveServer, series_id: str) -> str:
    series = parse_series_id(series_id)
    return s.services.venues[series.exchange].feeds[series.market].topic(series)


def kline(fake: FakeVenue, series_id: str, open_time: int, **prices: str) -> Kline:
    """The exchange's own kline at `open_time`, with some values replaced."""
    series = parse_series_id(series_id)
    model = fake.exchange.pair_model(series.market, series.symbol)
    return replace(model.kline(series.timeframe, open_time), **prices)


def inject(fake: FakeVenue, s: LiveServer, series_id: str, k: Kline, closed: bool = True) -> None:
    market = parse_series_id(series_id).market
    server = fake.ws[market]
    frame = server.kline_frame(topic_of(s, series_id), k, closed)
    assert fake.call(server.inject([frame])) >= 1


async def rejected(s: LiveServer, venue: str, reason: str) -> float:
    text = (await s.http.get("/metrics")).text
    needle = f'trade_canvas_ingest_frames_rejected_total{{reason="{reason}",venue="{venue}"}} '
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(needle))  # fmt: skip


async def job_of(s: LiveServer, series_id: str) -> dict[str, Any]:
    [job] = await jobs_of(s, series_id)
    return job


async def test_closes_from_the_future_are_rejected(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """A close dated five minutes, a day or a year ahead is neither stored nor broadcast:
    the head stays where the exchange is, and the gaps after it are still filled."""
    sid = fut_of(fake)
    settings = make_settings(**live_settings(fake, whitelist=[sid]))
    clock = clock_of(fake)
    async with driven(clock), live_server(settings, clock) as s, s.ws() as ws:
        await wait_caught_up(s, fake, sid)
        await send_json(ws, {"type": "subscribe", "series_id": sid})
        assert (await recv_json(ws))["type"] == "catchup"
        now = newest_closed(fake) + 60
        futures = [now + 5 * 60, now + 24 * HOUR, now + 365 * 24 * HOUR]
        for t in futures:
            inject(fake, s, sid, kline(fake, sid, t))
        await poll(lambda: _at_least(rejected(s, fake.name, "future"), 3), "3 rejections")
        # A lost close after them is still a hole to fill: the head was not moved ahead.
        fake.run("futures", lambda w: w.omit_closes(2))
        await wait_candles_close(fake, 4)
        await wait_caught_up(s, fake, sid)
        got = await assert_store_matches_exchange(s, fake, sid)
        assert got[-1][0] <= newest_closed(fake)
        closed = []
        while len(closed) < 3:
            msg = await recv_json(ws, 10)
            if msg["type"] == "candle_closed":
                closed.append(msg["candle"]["candle_time"])
        assert not set(closed) & set(futures)
        assert max(closed) <= newest_closed(fake)


async def test_stream_frames_do_not_rewrite_stored_candles(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """A second close of the newest candle with other prices and a close ten minutes old
    with other prices leave the store as the exchange says, are counted, and never reach a
    client; a close equal to the stored one changes nothing."""
    sid = fut_of(fake)
    settings = make_settings(**live_settings(fake, whitelist=[sid]))
    clock = clock_of(fake)
    async with driven(clock), live_server(settings, clock) as s, s.ws() as ws:
        await wait_caught_up(s, fake, sid)
        # The whole window is in: the old close below is stored, not a hole.
        await wait_backfilled(s, sid)
        await send_json(ws, {"type": "subscribe", "series_id": sid})
        assert (await recv_json(ws))["type"] == "catchup"
        head = (await stored(s, sid))[-1][0]
        inject(fake, s, sid, kline(fake, sid, head, open="99999", high="99999"))
        inject(fake, s, sid, kline(fake, sid, head - 600, low="0.5"))
        inject(fake, s, sid, kline(fake, sid, head - 300))  # the same as stored
        await poll(lambda: _at_least(rejected(s, fake.name, "conflict"), 2), "2 conflicts")
        # The client hears nothing of them: no `gap` (a close behind its newest would
        # cause one), and the next closes are the exchange's, after the head.
        seen = await _until_closes(ws, 2)
        assert [m for m in seen if m["type"] == "gap"] == []
        for c in [m["candle"] for m in seen if m["type"] == "candle_closed"]:
            t = c["candle_time"]
            assert t > head
            assert tuple(c.values()) == exchange_history(fake, sid, t, t)[0]
        await wait_caught_up(s, fake, sid)
        await assert_store_matches_exchange(s, fake, sid)
        assert await rejected(s, fake.name, "conflict") == 2


async def test_an_oversized_bybit_frame_is_rejected_whole(make_settings: SettingsFactory) -> None:
    """Bybit pushes a topic's kline (two at a boundary); a frame of 5,000 klines is not
    Bybit's, and none of it is stored, however plausible its klines look."""
    fake = start_fake(venue="bybit", stepped=True)
    try:
        sid = fut_of(fake)
        settings = make_settings(**live_settings(fake, whitelist=[sid]))
        clock = clock_of(fake)
        async with driven(clock), live_server(settings, clock) as s:
            await wait_caught_up(s, fake, sid)
            head = (await stored(s, sid))[-1][0]
            server = fake.ws["futures"]
            one = orjson.loads(server.kline_frame(topic_of(s, sid), kline(fake, sid, head), True))
            entries = []
            for i in range(5_000):
                k = kline(fake, sid, head - 60 * i, open="99999", high="99999")
                entries.append(
                    orjson.loads(server.kline_frame(topic_of(s, sid), k, True))["data"][0]
                )
            frame = orjson.dumps({**one, "data": entries}).decode()
            assert fake.call(server.inject([frame])) == 1
            await poll(lambda: _at_least(rejected(s, "bybit", "oversized_frame"), 1),
                       "the frame to be rejected")  # fmt: skip
            await wait_candles_close(fake, 2)
            await wait_caught_up(s, fake, sid)
            await assert_store_matches_exchange(s, fake, sid)
            assert await rejected(s, "bybit", "conflict") == 0
    finally:
        fake.stop()


async def test_a_backfill_refused_by_a_ban_is_owed_until_filled(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """An on-demand series starts while the venue's REST refuses every request (Bybit's 403
    ban, Binance's 503); live closes are stored meanwhile. The window it must hold stays
    owed (and shown) until REST answers again, then it is filled: not 2 candles, the
    whole window, equal to the exchange."""
    sid = fut_of(fake, "ETH")
    window = 300
    settings = make_settings(**live_settings(fake, live_backfill_max_candles=window))
    clock = clock_of(fake)
    async with driven(clock), live_server(settings, clock) as s, s.ws() as ws:
        # The market list was loaded before the ban: the series is known to exist.
        assert (await s.http.get("/api/market/exchanges")).status_code == 200
        fake.exchange.fail_rest(10**9)
        started = newest_closed(fake)
        await send_json(ws, {"type": "subscribe", "series_id": sid})
        assert (await recv_json(ws, 10))["type"] == "catchup"
        await wait_candles_close(fake, 3)
        await poll(lambda: _stored_at_least(s, sid, 2), "live closes stored during the ban")
        job = await job_of(s, sid)
        assert job["owed"] is not None, job
        assert job["owed"]["from"] <= started - (window - 2) * 60, job
        assert job["owed"]["candles"] >= window - 2, job
        assert job["backfill_retry_at"] is not None and "backfill" in (job["last_error"] or "")
        fake.exchange.fail_rest(0)
        await poll(lambda: _stored_at_least(s, sid, window), "the window to be filled", 30)
        got = await assert_store_matches_exchange(s, fake, sid)
        assert got[0][0] <= started - (window - 2) * 60
        await wait_backfilled(s, sid)


async def test_a_whitelisted_series_streams_while_the_market_list_cannot_be_had(
    make_settings: SettingsFactory, fake: FakeVenue
) -> None:
    """The stream does not need the market list: with every REST request refused from the
    start, a whitelisted series goes live and its closes are stored."""
    sid = fut_of(fake)
    fake.exchange.fail_rest(10**9)
    settings = make_settings(**live_settings(fake, whitelist=[sid]))
    clock = clock_of(fake)
    async with driven(clock), live_server(settings, clock) as s, s.ws() as ws:
        await poll(lambda: _state_is(s, sid, "live"), "the series to go live", 20)
        await send_json(ws, {"type": "subscribe", "series_id": sid})
        assert (await recv_json(ws))["type"] == "catchup"
        kinds = set()
        while "candle_closed" not in kinds:
            kinds.add((await recv_json(ws, 10))["type"])
        assert "candle_forming" in kinds
        fake.exchange.fail_rest(0)
        await wait_caught_up(s, fake, sid)
        await assert_store_matches_exchange(s, fake, sid)


async def _until_closes(ws: Any, count: int) -> list[dict[str, Any]]:
    """Every message up to and including the next `count` closes."""
    seen = []
    while sum(1 for m in seen if m["type"] == "candle_closed") < count:
        seen.append(await recv_json(ws, 10))
    return seen


async def _at_least(value: Any, bound: float) -> bool:
    return bool(await value >= bound)


async def _stored_at_least(s: LiveServer, series_id: str, n: int) -> bool:
    return len(await stored(s, series_id)) >= n


async def _state_is(s: LiveServer, series_id: str, state: str) -> bool:
    return bool((await job_of(s, series_id))["state"] == state)
