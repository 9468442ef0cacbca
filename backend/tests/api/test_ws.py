"""The /ws/market contract, with real WebSocket clients over loopback."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.candle import Candle
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.support import (
    SERIES,
    T0,
    LiveServer,
    StalledClient,
    candle,
    live_server,
    metric_value,
    poll,
    recv_json,
    send_json,
)


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return str(request.param)


def bars(start: int, n: int) -> list[Candle]:
    return [Candle(start + 60 * i, 10.0 + i, 12.0 + i, 9.0 + i, 11.0 + i, 1.0) for i in range(n)]


async def subscribe(ws: ClientConnection, series_id: str = SERIES, **extra: Any) -> dict[str, Any]:
    await send_json(ws, {"type": "subscribe", "series_id": series_id, **extra})
    msg = await recv_json(ws)
    assert msg["type"] == "catchup", msg
    return msg


async def test_ping_pong(server: LiveServer) -> None:
    async with server.ws() as ws:
        await send_json(ws, {"type": "ping"})
        assert await recv_json(ws) == {"type": "pong"}


async def test_subscribe_catchup_since(server: LiveServer) -> None:
    await server.services.writer.commit_closed(SERIES, bars(T0, 10))
    async with server.ws() as ws:
        msg = await subscribe(ws, since=T0 + 6 * 60)
        assert msg["series_id"] == SERIES
        assert msg["server_head_time"] == T0 + 9 * 60
        assert [c["candle_time"] for c in msg["candles"]] == [T0 + 7 * 60, T0 + 8 * 60, T0 + 540]
        assert msg["candles"][0] == {
            "candle_time": T0 + 420,
            "open": 17.0,
            "high": 19.0,
            "low": 16.0,
            "close": 18.0,
            "volume": 1.0,
        }
        assert "truncated" not in msg


async def test_catchup_without_since_is_empty(server: LiveServer) -> None:
    await server.services.writer.commit_closed(SERIES, bars(T0, 3))
    async with server.ws() as ws:
        msg = await subscribe(ws)
        assert msg["candles"] == [] and msg["server_head_time"] == T0 + 120


async def test_catchup_is_truncated_at_5000(server: LiveServer) -> None:
    await server.services.writer.commit_closed(SERIES, bars(T0, 5003))
    async with server.ws() as ws:
        msg = await subscribe(ws, since=0)
        assert len(msg["candles"]) == 5000 and msg["truncated"] is True
        assert msg["candles"][-1]["candle_time"] == T0 + 4999 * 60
        # The stream continues after the head; the client reads the rest over HTTP.
        await server.ingest(SERIES, candle(T0 + 5003 * 60))
        nxt = await recv_json(ws)
        assert (nxt["type"], nxt["candle"]["candle_time"]) == ("candle_closed", T0 + 5003 * 60)


async def test_closed_candle_reaches_every_subscriber_after_commit(server: LiveServer) -> None:
    async with server.ws() as a, server.ws() as b, server.ws() as other:
        await subscribe(a)
        await subscribe(b)
        await subscribe(other, "binance:spot:ETH/USDT:1m")
        r = await server.ingest(SERIES, candle(T0))
        assert r.status_code == 200
        for ws in (a, b):
            msg = await recv_json(ws)
            assert msg == {"type": "candle_closed", "series_id": SERIES, "candle": candle(T0)}
            # It is durable by the time it is seen: the HTTP read has it.
            stored = await server.http.get("/api/market/candles", params={"series_id": SERIES})
            assert stored.json()["candles"] == [candle(T0)]
        await send_json(other, {"type": "ping"})
        assert await recv_json(other) == {"type": "pong"}  # nothing for ETH arrived first


async def test_forming_updates_are_streamed_not_stored(server: LiveServer) -> None:
    published = server.services.published
    async with server.ws() as ws:
        await subscribe(ws)
        published.forming(SERIES, Candle(T0, 1, 2, 0.5, 1.5, 3), None)
        msg = await recv_json(ws)
        assert msg["type"] == "candle_forming" and msg["candle"]["close"] == 1.5
        r = await server.http.get("/api/market/candles", params={"series_id": SERIES})
        assert r.json()["candles"] == [] and r.json()["server_head_time"] is None
        # A forming update for a candle older than the last closed one is stale: not sent.
        await server.ingest(SERIES, candle(T0 + 60))
        assert (await recv_json(ws))["type"] == "candle_closed"
        published.forming(SERIES, Candle(T0, 1, 2, 0.5, 1.7, 3), None)
        published.forming(SERIES, Candle(T0 + 120, 1, 2, 0.5, 1.9, 3), None)
        msg = await recv_json(ws)
        assert msg["candle"]["candle_time"] == T0 + 120


async def test_unsubscribe_stops_the_stream(server: LiveServer) -> None:
    async with server.ws() as ws:
        await subscribe(ws)
        await send_json(ws, {"type": "unsubscribe", "series_id": SERIES})
        await send_json(ws, {"type": "ping"})
        assert await recv_json(ws) == {"type": "pong"}
        await server.ingest(SERIES, candle(T0))
        await send_json(ws, {"type": "ping"})
        assert await recv_json(ws) == {"type": "pong"}


async def test_resubscribe_resyncs_without_double_counting(server: LiveServer) -> None:
    await server.services.writer.commit_closed(SERIES, bars(T0, 5))
    async with server.ws() as ws:
        await subscribe(ws)
        msg = await subscribe(ws, since=T0 + 120)
        assert [c["candle_time"] for c in msg["candles"]] == [T0 + 180, T0 + 240]
        body = (await server.http.get("/api/market/debug/ingest_state")).json()
        assert [(j["series_id"], j["refcount"]) for j in body["jobs"]] == [(SERIES, 1)]
    await poll(lambda: server.services.fanout.follower_count(SERIES) == 0, "disconnect cleanup")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_message"),
        ("[1, 2]", "bad_message"),
        ('"ping"', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ("{}", "unknown_type"),
        ('{"type": "subscribe"}', "invalid_series_id"),
        ('{"type": "subscribe", "series_id": "binance:spot:BTC/USDT:7m"}', "invalid_series_id"),
        ('{"type": "subscribe", "series_id": 5}', "invalid_series_id"),
        ('{"type": "unsubscribe", "series_id": "x"}', "invalid_series_id"),
        (
            '{"type": "subscribe", "series_id": "binance:spot:BTC/USDT:1m", "since": "1"}',
            "bad_message",
        ),
        (
            '{"type": "subscribe", "series_id": "binance:spot:BTC/USDT:1m", "since": true}',
            "bad_message",
        ),
    ],
)
async def test_bad_messages_get_errors_not_disconnects(
    server: LiveServer, frame: str, code: str
) -> None:
    async with server.ws() as ws:
        await ws.send(frame)
        msg = await recv_json(ws)
        assert msg["type"] == "error" and msg["code"] == code and msg["message"]
        await send_json(ws, {"type": "ping"})
        assert await recv_json(ws) == {"type": "pong"}


async def test_error_names_the_series(server: LiveServer) -> None:
    async with server.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": "binance:spot:BTC/USDT:7m"})
        msg = await recv_json(ws)
        assert msg["series_id"] == "binance:spot:BTC/USDT:7m"


async def test_binary_frames_are_parsed_too(server: LiveServer) -> None:
    async with server.ws() as ws:
        await ws.send(orjson.dumps({"type": "ping"}))
        assert await recv_json(ws) == {"type": "pong"}


async def test_too_many_subscriptions(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(ws_max_subscriptions=2)) as s, s.ws() as ws:
        await subscribe(ws, "binance:spot:A/USDT:1m")
        await subscribe(ws, "binance:spot:B/USDT:1m")
        await send_json(ws, {"type": "subscribe", "series_id": "binance:spot:C/USDT:1m"})
        msg = await recv_json(ws)
        assert msg["code"] == "too_many_subscriptions"
        assert msg["series_id"] == "binance:spot:C/USDT:1m"
        await subscribe(ws, "binance:spot:A/USDT:1m")  # a re-subscribe is still fine


async def test_oversized_frame_closes_with_1009(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(ws_max_message_bytes=1024)) as s, s.ws() as ws:
        await ws.send("x" * 2000)
        with pytest.raises(ConnectionClosed) as info:
            await recv_json(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_disconnect_releases_every_subscription(server: LiveServer) -> None:
    async with server.ws() as ws:
        await subscribe(ws, "binance:spot:A/USDT:1m")
        await subscribe(ws, "binance:spot:B/USDT:1m")
        assert await metric_value(server, "trade_canvas_ws_clients") == 1
    fanout = server.services.fanout

    async def released() -> bool:
        jobs = (await server.http.get("/api/market/debug/ingest_state")).json()["jobs"]
        return (
            len(jobs) == 2
            and all(j["refcount"] == 0 and j["idle_deadline"] is not None for j in jobs)
            and fanout.follower_count("binance:spot:A/USDT:1m") == 0
            and await metric_value(server, "trade_canvas_ws_clients") == 0
        )

    await poll(released, "subscriptions released after disconnect")


async def test_gap_when_the_stream_skips(server: LiveServer) -> None:
    await server.services.writer.commit_closed(SERIES, bars(T0, 1))
    async with server.ws() as ws:
        await subscribe(ws)
        await server.ingest(SERIES, candle(T0 + 5 * 60))
        gap = await recv_json(ws)
        assert gap == {
            "type": "gap",
            "series_id": SERIES,
            "expected_next_time": T0 + 60,
            "actual_time": T0 + 300,
        }
        assert (await recv_json(ws))["candle"]["candle_time"] == T0 + 300
        # A candle committed behind the client's last one is not streamed; a gap says where
        # to re-read from.
        await server.ingest(SERIES, candle(T0 + 2 * 60))
        gap = await recv_json(ws)
        assert (gap["type"], gap["expected_next_time"], gap["actual_time"]) == (
            "gap",
            T0 + 120,
            T0 + 300,
        )


async def test_concurrent_writers_keep_each_client_ascending(server: LiveServer) -> None:
    """Many writers post in random order; each client sees strictly ascending candles, and
    re-reading where each `gap` says recovers exactly the stored history."""
    n = 200
    order = list(range(n))
    random.Random(7).shuffle(order)
    async with server.ws() as ws:
        await subscribe(ws)
        results = await asyncio.gather(*(server.ingest(SERIES, candle(T0 + 60 * i)) for i in order))
        assert all(r.status_code == 200 for r in results)
        head = T0 + 60 * (n - 1)
        view: dict[int, dict[str, Any]] = {}
        closed_times: list[int] = []
        while head not in view or any(T0 + 60 * i not in view for i in range(n)):
            msg = await recv_json(ws)
            if msg["type"] == "candle_closed":
                closed_times.append(msg["candle"]["candle_time"])
                view[msg["candle"]["candle_time"]] = msg["candle"]
            elif msg["type"] == "gap":
                r = await server.http.get(
                    "/api/market/candles",
                    params={
                        "series_id": SERIES,
                        "since": msg["expected_next_time"] - 1,
                        "limit": 5000,
                    },
                )
                view.update({c["candle_time"]: c for c in r.json()["candles"]})
        assert closed_times == sorted(set(closed_times))
        assert sorted(view) == [T0 + 60 * i for i in range(n)]


async def test_slow_client_gets_gap_while_fast_clients_lose_nothing(
    make_settings: SettingsFactory,
) -> None:
    async with live_server(make_settings(ws_send_queue_max=64)) as s:
        writer = s.services.writer
        slow = await StalledClient.connect(s.ws_url)
        await slow.send_json({"type": "subscribe", "series_id": SERIES})
        async with s.ws() as fast1, s.ws() as fast2:
            for ws in (fast1, fast2):
                await subscribe(ws)
            received: dict[int, list[int]] = {1: [], 2: []}

            async def drain(idx: int, ws: ClientConnection, until: int) -> None:
                while not received[idx] or received[idx][-1] < until:
                    msg = await recv_json(ws, 20)
                    assert msg["type"] == "candle_closed", msg
                    received[idx].append(msg["candle"]["candle_time"])

            total, batch = 20_000, 20
            last = T0 + 60 * (total - 1)
            readers = [
                asyncio.create_task(drain(1, fast1, last)),
                asyncio.create_task(drain(2, fast2, last)),
            ]
            for start in range(0, total, batch):
                await writer.commit_closed(SERIES, bars(T0 + 60 * start, batch))
                await asyncio.sleep(0)  # let the fast readers run, as real writers would
            await asyncio.wait_for(asyncio.gather(*readers), 60)
            expected = [T0 + 60 * i for i in range(total)]
            assert received[1] == expected and received[2] == expected
            dropped = await metric_value(s, "trade_canvas_ws_messages_dropped_total")
            assert dropped > 0
            # Now the slow client reads: what it got is ascending, and it was told of the gap.
            got = [await slow.recv_json()]
            while got[-1]["type"] != "gap":
                got.append(await slow.recv_json())
            await slow.close()
            assert got[0]["type"] == "catchup"
            gap = got[-1]
            closed = [m["candle"]["candle_time"] for m in got if m["type"] == "candle_closed"]
            assert closed == sorted(set(closed))
            assert gap["expected_next_time"] == closed[-1] + 60
            assert gap["actual_time"] > gap["expected_next_time"]


async def test_a_flood_is_rate_limited_then_closed(make_settings: SettingsFactory) -> None:
    settings = make_settings(ws_messages_per_s=5, ws_message_burst=10)
    async with live_server(settings) as s, s.ws() as flood, s.ws() as calm:
        for _ in range(30):
            await send_json(flood, {"type": "ping"})
        pongs = 0
        while (reply := await recv_json(flood))["type"] == "pong":
            pongs += 1
        assert reply["code"] == "rate_limited"
        assert 10 <= pongs < 15  # the burst, and what refilled while sending
        # The others on the server are not held up.
        await send_json(calm, {"type": "ping"})
        assert (await recv_json(calm))["type"] == "pong"
        # Every ping not answered was counted as dropped.
        await poll(
            lambda: _metric_is(s, "trade_canvas_ws_client_messages_rate_limited_total", 30 - pongs),
            "the dropped pings counted",
        )
        # A client that keeps flooding is closed with 1008.
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(5000):
                await send_json(flood, {"type": "ping"})
            while True:
                await recv_json(flood)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_a_client_within_the_rate_is_never_limited(make_settings: SettingsFactory) -> None:
    settings = make_settings(ws_messages_per_s=50, ws_message_burst=5)
    async with live_server(settings) as s, s.ws() as ws:
        for _ in range(40):  # four times the burst, paced at half the allowed rate
            await send_json(ws, {"type": "ping"})
            await asyncio.sleep(1 / 25)  # the client's pace, not a wait for the server
        replies = [await recv_json(ws) for _ in range(40)]
        assert {r["type"] for r in replies} == {"pong"}


async def _metric_is(s: LiveServer, name: str, value: float) -> bool:
    return await metric_value(s, name) == value
