"""The Redis bus between processes, with real servers in this process sharing a real
PostgreSQL and a real `redis-server` (as separate processes would: they share nothing
else), and real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from app.bus.redis import codec
from app.bus.redis.keys import DEFAULT_KEYS
from app.candle import Candle
from tests.conftest import FakeRest, SettingsFactory
from tests.freqtrade_support import store_with_freqtrade
from tests.redis_server import RedisServer
from tests.support import SERIES, T0, LiveServer, candle, live_server, poll, recv_json, send_json


@pytest.fixture
def store_engine() -> str:
    return "postgres"  # processes sharing a bus share a PostgreSQL store


@contextlib.asynccontextmanager
async def replicas(
    make_settings: SettingsFactory,
    redis: RedisServer,
    n: int = 2,
    role: str = "all",
    **extra: Any,
) -> AsyncIterator[list[LiveServer]]:
    """`n` servers on one bus and store; with `all`, the first one started leads."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                live_server(make_settings(bus_url=redis.url, role=role, leader_ttl_s=1.0, **extra))
            )
            for _ in range(n)
        ]


async def subscribe(ws: Any, **extra: Any) -> dict[str, Any]:
    await send_json(ws, {"type": "subscribe", "series_id": SERIES, **extra})
    msg = await recv_json(ws)
    assert msg["type"] == "catchup", msg
    return msg


async def test_a_close_reaches_the_clients_of_every_replica_once_committed(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    async with replicas(make_settings, redis) as (a, b), a.ws() as on_a, b.ws() as on_b:
        await subscribe(on_a)
        await subscribe(on_b)
        assert (await a.ingest(SERIES, candle(T0))).status_code == 200
        for ws, other in ((on_a, b), (on_b, a)):
            assert await recv_json(ws) == {
                "type": "candle_closed", "series_id": SERIES, "candle": candle(T0)
            }  # fmt: skip
            # Committed before it was sent: the other process reads it from the store.
            got = await other.http.get("/api/market/candles", params={"series_id": SERIES})
            assert got.json()["candles"] == [candle(T0)]
        # A correction sent to a process that does not lead is written by the leader.
        assert not b.services.cluster.leading  # type: ignore[union-attr]
        fixed = {**candle(T0 + 60), "close": 99.0}
        reply = await b.ingest(SERIES, fixed)
        assert reply.status_code == 200, reply.text
        assert reply.json()["inserted"] == 1
        for ws in (on_a, on_b):
            assert (await recv_json(ws))["candle"] == fixed


async def test_catchups_join_the_stream_of_another_process_exactly(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    """Clients subscribe on one replica while another commits closes as fast as it can:
    each client's catchup followed by its stream is every candle once, in order, and no
    `gap` (the bus delivers late what the catchup already read)."""
    n, per_commit = 300, 3
    written = 0
    async with replicas(make_settings, redis) as (writer, reader):

        async def write() -> None:
            # Several closes per commit, as a live batch or a backfill page commits them.
            nonlocal written
            for i in range(0, n, per_commit):
                rows = [
                    tuple(Candle(T0 + 60 * j, 1, 2, 0.5, 1.5, 3)) for j in range(i, i + per_commit)
                ]
                await writer.services.writer.commit_closed(SERIES, rows)  # type: ignore[arg-type]
                written += per_commit

        async def follow() -> list[int]:
            async with reader.ws() as ws:
                caught = await subscribe(ws, since=T0 - 60)
                times = [c["candle_time"] for c in caught["candles"]]
                while not times or times[-1] < T0 + 60 * (n - 1):
                    msg = await recv_json(ws)
                    assert msg["type"] == "candle_closed", msg  # never a gap
                    times.append(msg["candle"]["candle_time"])
                return times

        async def late_follower(after: int) -> list[int]:
            await poll(lambda: written >= after, f"{after} candles written", timeout=60)
            return await follow()

        writing = asyncio.create_task(write())
        followers = [asyncio.create_task(late_follower(k * 12)) for k in range(20)]
        await writing
        for times in await asyncio.gather(*followers):
            assert times == [T0 + 60 * i for i in range(n)]


async def test_garbage_on_the_bus_is_skipped_and_the_stream_goes_on(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    client = aioredis.Redis.from_url(redis.url)
    try:
        async with replicas(make_settings, redis, n=1) as (server,), server.ws() as ws:
            await subscribe(ws)
            for fields in ({"k": "c", "s": SERIES}, {"k": "c", "s": SERIES, "h": "", "c": "[[1]]"},
                           {"k": "x", "s": SERIES}, {"junk": "yes"}):  # fmt: skip
                await client.xadd(DEFAULT_KEYS.closed, fields)  # type: ignore[arg-type]
            await client.publish(DEFAULT_KEYS.forming, b"{not json")
            await client.publish(DEFAULT_KEYS.forming, orjson.dumps({"s": SERIES, "c": [1]}))
            assert (await server.ingest(SERIES, candle(T0))).status_code == 200
            msg = await recv_json(ws)
            assert msg["type"] == "candle_closed" and msg["candle"] == candle(T0), msg
            assert (await server.http.get("/ready")).json()["status"] in ("ready", "degraded")
    finally:
        await client.aclose()


async def test_a_redis_restart_loses_no_committed_close(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    async with replicas(make_settings, redis) as (a, b), b.ws() as ws:
        await subscribe(ws)
        assert (await a.ingest(SERIES, candle(T0))).status_code == 200
        assert (await recv_json(ws))["candle"] == candle(T0)

        redis.kill()

        async def says(server: LiveServer, text: str) -> bool:
            body = (await server.http.get("/ready")).json()
            return any(text in p for p in body.get("problems", []))

        await poll(lambda: says(b, "the bus cannot be read"), "/ready to say so", timeout=30)
        # Commits go on (the store is up); reads are served meanwhile.
        assert (await a.ingest(SERIES, candle(T0 + 60))).status_code == 200
        got = await b.http.get("/api/market/candles", params={"series_id": SERIES})
        assert [c["candle_time"] for c in got.json()["candles"]] == [T0, T0 + 60]

        redis.start()
        # The close committed while Redis was down goes out once it is back, in order.
        msg = await asyncio.wait_for(recv_json(ws), 30)
        assert msg == {"type": "candle_closed", "series_id": SERIES, "candle": candle(T0 + 60)}
        assert (await a.ingest(SERIES, candle(T0 + 120))).status_code == 200
        assert (await asyncio.wait_for(recv_json(ws), 30))["candle"] == candle(T0 + 120)
        await poll(lambda: _no_bus_problem(b), "/ready to recover", timeout=30)


async def _no_bus_problem(server: LiveServer) -> bool:
    body = (await server.http.get("/ready")).json()
    return not any("bus" in p for p in body.get("problems", []))


def test_bus_messages_round_trip_and_garbage_is_one_error() -> None:
    fields = codec.encode_closed(SERIES, [tuple(Candle(T0, 1, 2, 0.5, 1.5, 3))], None)
    message = codec.decode_stream({k.encode(): v for k, v in fields.items()})
    assert message == codec.ClosedMessage(SERIES, ((T0, 1.0, 2.0, 0.5, 1.5, 3.0),), None)
    for garbage in ({}, {b"k": b"c"}, {b"k": b"c", b"s": b"x", b"h": b"12a", b"c": b"[]"},
                    {b"k": b"c", b"s": b"x", b"h": b"", b"c": b"[[1,2]]"},
                    {b"k": b"c", b"s": b"\xff", b"h": b"", b"c": b"[]"}, {b"k": b"?", b"s": b"x"}):  # fmt: skip
        with pytest.raises(codec.BusMessageError):
            codec.decode_stream(garbage)
    assert codec.parse_wanted_member(codec.wanted_member(SERIES, "node/1.2.3.4")) == (
        SERIES, "node/1.2.3.4"
    )  # fmt: skip
    assert codec.parse_wanted_member(b"no separator") is None


async def test_series_are_held_cluster_wide_and_capacity_is_told_over_the_bus(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    """A subscribe on a replica starts the series' job on the leader (another process);
    one past the leader's capacity gets the leader's refusal as an error; a series nobody
    holds any more is let go."""
    other = "binance:spot:ETH/USDT:1m"
    leader_settings = make_settings(
        bus_url=redis.url, role="ingest", leader_ttl_s=1.0, ondemand_max_jobs=1,
        ondemand_max_share=1.0, ondemand_idle_ttl_s=0,
    )  # fmt: skip
    async with (
        live_server(leader_settings) as leader,
        replicas(make_settings, redis, n=1, role="api") as (replica,),
    ):

        async def jobs() -> dict[str, int]:
            state = (await replica.http.get("/api/market/debug/ingest_state")).json()
            return {j["series_id"]: j["refcount"] for j in state["jobs"]}

        async with replica.ws() as first, replica.ws() as second:
            await subscribe(first)
            await poll(lambda: _eq(jobs(), {SERIES: 1}), "the leader to hold it", timeout=30)
            state = (await replica.http.get("/api/market/debug/ingest_state")).json()
            assert state["cluster"]["leader"] == leader.services.cluster.name  # type: ignore[union-attr]
            await send_json(second, {"type": "subscribe", "series_id": other})
            assert (await recv_json(second))["type"] == "catchup"
            refusal = await asyncio.wait_for(recv_json(second), 30)
            assert refusal["type"] == "error" and refusal["code"] == "capacity", refusal
            assert refusal["series_id"] == other
        # Both clients gone: the leader lets the series go.
        await poll(lambda: _eq(jobs(), {}), "the leader to let go", timeout=30)


async def _eq(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_a_replica_gets_what_the_store_lacks_through_the_leader(
    make_settings: SettingsFactory, redis: RedisServer, fake_binance: FakeRest
) -> None:
    """A facade read on a replica of candles nobody stored: the leader (the one process
    calling the exchange; the replica's venue URLs lead nowhere) fetches and commits them,
    and the replica serves the exchange's own rows."""
    leader_settings = make_settings(
        bus_url=redis.url, role="ingest", leader_ttl_s=1.0,
        binance_spot_rest_url=fake_binance.url,
    )  # fmt: skip
    params = {"symbol": "BTCUSDT", "interval": "1m", "limit": 100}
    async with (
        live_server(leader_settings) as leader,
        replicas(make_settings, redis, n=1, role="api") as (replica,),
    ):
        await poll(lambda: _leads(replica), "a leader", timeout=30)
        ours = (await replica.http.get("/binance/api/v3/klines", params=params)).json()
        assert len(ours) >= 100, ours
        async with httpx.AsyncClient(base_url=fake_binance.url) as exchange:
            theirs = (
                await exchange.get("/api/v3/klines", params={**params, "startTime": ours[0][0]})
            ).json()
        by_time = {row[0]: row for row in theirs}
        closed = [row for row in ours if row[0] in by_time][:99]
        assert len(closed) == 99
        assert all([float(x) for x in r] == [float(x) for x in by_time[r[0]]] for r in closed)
        # Stored by the leader: the replica's next read asks nobody.
        stored = await leader.http.get(
            "/api/market/candles", params={"series_id": SERIES, "limit": 200}
        )
        assert len(stored.json()["candles"]) >= 99


async def _leads(server: LiveServer) -> bool:
    state = (await server.http.get("/api/market/debug/ingest_state")).json()
    return state["cluster"]["leader"] is not None


async def test_a_replica_reads_the_leaders_datadir_and_follows_what_download_data_appends(
    make_settings: SettingsFactory, redis: RedisServer, tmp_path: Path, fake_binance: FakeRest
) -> None:
    """A replica has no datadir of its own and its venue URLs lead nowhere: the leader
    checks the pair against the market list it loaded, imports the freqtrade file for the
    replica's first read, and what `download-data` then appends reaches its client."""
    data = [(T0 + 60 * i, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 3.0) for i in range(105)]
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data[:100], "feather")
    leader_settings = make_settings(
        bus_url=redis.url, role="ingest", leader_ttl_s=1.0, market_history_source="freqtrade",
        freqtrade_datadir=tmp_path, history_download=False, history_recheck_s=0,
        history_follow_s=0.05, binance_spot_rest_url=fake_binance.url,
    )  # fmt: skip
    async with (
        live_server(leader_settings),
        # The cluster's configuration: history from freqtrade files (the leader's).
        replicas(make_settings, redis, n=1, role="api", market_history_source="freqtrade") as (
            replica,
        ),
        replica.ws() as ws,
    ):
        await poll(lambda: _leads(replica), "a leader", timeout=30)
        got = await replica.http.get(
            "/api/market/candles", params={"series_id": SERIES, "limit": 500}
        )
        assert [c["candle_time"] for c in got.json()["candles"]] == [r[0] for r in data[:100]]
        catchup = await subscribe(ws, since=data[89][0])
        assert catchup["server_head_time"] == data[99][0]
        store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data, "feather")  # as download-data
        got_closes = [await asyncio.wait_for(recv_json(ws), 30) for _ in range(5)]
        assert [(m["type"], m["candle"]["candle_time"]) for m in got_closes] == [
            ("candle_closed", row[0]) for row in data[100:]
        ]
