"""A cluster of real processes: PostgreSQL for the store, Redis for the bus, ingest
processes competing to lead and API replicas, against the local Binance (sped up: a 1m
candle closes every real second). Nothing here is in-process but the clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from local_exchange.server import FakeVenue
from tests.live_support import exchange_history, live_settings, start_fake
from tests.postgres_cluster import running_cluster
from tests.redis_server import RedisServer
from tests.support import free_port, poll

SERIES = "binance:spot:BTC/USDT:1m"
TTL_S = 3.0


@pytest.fixture
def fake() -> Iterator[FakeVenue]:
    exchange = start_fake()
    try:
        yield exchange
    finally:
        exchange.stop()


@dataclass
class Node:
    role: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def cluster_env(fake: FakeVenue, dsn: str, bus: str, tmp_path: Path) -> dict[str, str]:
    values: dict[str, Any] = live_settings(
        fake,
        whitelist=SERIES,
        store_url=dsn,
        bus_url=bus,
        leader_ttl_s=TTL_S,
        market_history_source="off",
        live_backfill_max_candles=120,
        enable_debug_api=True,
        db_path=tmp_path / "unused.sqlite",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
    env.update({f"TRADE_CANVAS_{k.upper()}": str(v) for k, v in values.items()})
    return env


@contextlib.contextmanager
def cluster(env: dict[str, str], tmp_path: Path, roles: list[str]) -> Iterator[list[Node]]:
    nodes = []
    try:
        for i, role in enumerate(roles):
            port = free_port()
            log = tmp_path / f"{role}-{i}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "app", "serve", "--role", role, "--port", str(port)],
                    env=env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            nodes.append(Node(role, port, process, log))
        yield nodes
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(15)
            if node.process.poll() is None:
                node.kill()


async def up(http: httpx.AsyncClient, node: Node) -> None:
    async def healthy() -> bool:
        assert node.process.poll() is None, node.log.read_text()
        try:
            return (await http.get(f"{node.base}/health")).status_code == 200
        except httpx.TransportError:
            return False

    await poll(healthy, f"{node.role} on {node.port} to start", timeout=90, every=0.1)


async def leader_of(http: httpx.AsyncClient, node: Node) -> str | None:
    state = (await http.get(f"{node.base}/api/market/debug/ingest_state")).json()
    leader: str | None = state["cluster"]["leader"]
    return leader


@dataclass
class Follower:
    """A chart's WebSocket on one replica: what it was sent, in order."""

    url: str
    closes: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    catchup_head: int | None = None

    async def run(self) -> None:
        async with connect(self.url) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "series_id": SERIES}).decode())
            async for raw in ws:
                msg = orjson.loads(raw)
                if msg["type"] == "catchup":
                    self.catchup_head = msg["server_head_time"]
                elif msg["type"] == "candle_closed":
                    self.closes.append(msg["candle"])
                elif msg["type"] == "gap":
                    self.gaps.append(msg)


@contextlib.asynccontextmanager
async def following(url: str) -> AsyncIterator[Follower]:
    follower = Follower(url)
    task = asyncio.create_task(follower.run(), name=f"follower {url}")
    try:
        yield follower
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def stored(http: httpx.AsyncClient, node: Node) -> list[list[float]]:
    reply = await http.get(
        f"{node.base}/api/market/candles", params={"series_id": SERIES, "limit": 5000}
    )
    assert reply.status_code == 200, reply.text
    return [[c["candle_time"], c["open"], c["high"], c["low"], c["close"], c["volume"]]
            for c in reply.json()["candles"]]  # fmt: skip


def ascending(closes: list[dict[str, Any]]) -> bool:
    times = [c["candle_time"] for c in closes]
    return all(a < b for a, b in itertools.pairwise(times))


async def test_replicas_follow_the_leader_and_a_standby_takes_over(
    fake: FakeVenue, postgres_dsn: str, redis: RedisServer, tmp_path: Path
) -> None:
    env = cluster_env(fake, postgres_dsn, redis.url, tmp_path)
    roles = ["ingest", "ingest", "api", "api"]
    async with httpx.AsyncClient(timeout=30) as http:
        with cluster(env, tmp_path, roles) as nodes:
            for node in nodes:
                await up(http, node)
            ingest, replicas = nodes[:2], nodes[2:]
            leaders: set[str | None] = set()

            async def one_leads() -> bool:
                leaders.clear()
                leaders.update([await leader_of(http, n) for n in nodes])
                return len(leaders) == 1 and None not in leaders

            await poll(one_leads, "every process to name one leader", timeout=60, every=0.2)
            first = leaders.pop()
            assert first is not None
            leader = next(n for n in ingest if first.endswith(f":{n.process.pid}"))
            standby = next(n for n in ingest if n is not leader)

            async with contextlib.AsyncExitStack() as stack:
                followers = [
                    await stack.enter_async_context(following(f"ws://127.0.0.1:{r.port}/ws/market"))
                    for r in replicas
                ]
                await poll(lambda: all(len(f.closes) >= 5 for f in followers),
                           "closes on both replicas", timeout=60, every=0.1)  # fmt: skip
                # Both replicas stream the same closes, each in order and contiguous.
                for f in followers:
                    assert ascending(f.closes)
                    assert not f.gaps, f.gaps

                leader.kill()
                killed_at = asyncio.get_running_loop().time()

                async def standby_leads() -> bool:
                    return (
                        await leader_of(http, replicas[0])
                    ) == f"{first.rsplit(':', 1)[0]}:{standby.process.pid}"

                await poll(standby_leads, "the standby to lead", timeout=TTL_S + 20, every=0.1)
                took = asyncio.get_running_loop().time() - killed_at
                counts = [len(f.closes) for f in followers]
                await poll(lambda: all(len(f.closes) >= n + 10 for f, n in zip(followers, counts, strict=True)),
                           "closes after the failover", timeout=60, every=0.1)  # fmt: skip

                for f in followers:
                    assert ascending(f.closes), [c["candle_time"] for c in f.closes]
                    # Contiguous, or told where it is not (and then refilled over HTTP).
                    times = [c["candle_time"] for c in f.closes]
                    holes = [b for a, b in itertools.pairwise(times) if b - a != 60]
                    assert len(holes) <= len(f.gaps), (holes, f.gaps)

                # A replica dies: the other's clients lose nothing.
                survivor = followers[1]
                before, gaps = len(survivor.closes), len(survivor.gaps)
                replicas[0].kill()
                await poll(lambda: len(survivor.closes) >= before + 10,
                           "closes on the surviving replica", timeout=60, every=0.1)  # fmt: skip
                times = [c["candle_time"] for c in survivor.closes[before - 1 :]]
                assert times == list(range(times[0], times[-1] + 60, 60))
                assert len(survivor.gaps) == gaps

            # The store equals the exchange's history: no hole, no duplicate, no value
            # of its own, across the failover.
            rows = await stored(http, replicas[1])
            times = [int(r[0]) for r in rows]
            assert times == list(range(times[0], times[-1] + 60, 60))
            truth = exchange_history(fake, SERIES, times[0], times[-1])
            assert [tuple(r) for r in rows] == [tuple(map(float, t)) for t in truth]
            assert took < TTL_S + 10, took


@pytest.mark.postgres  # starts a cluster of its own
async def test_postgresql_restarted_under_a_cluster_loses_nothing(
    fake: FakeVenue, redis: RedisServer, tmp_path: Path
) -> None:
    """The database goes away for a while under a leader and a replica with a client: the
    leader steps down (its lock went with the database) and leads again once it is back,
    backfilling what the exchange closed meanwhile; the client's stream stays in order and
    the store ends equal to the exchange."""
    with running_cluster() as database:
        env = cluster_env(fake, database.dsn, redis.url, tmp_path)
        async with httpx.AsyncClient(timeout=30) as http:
            with cluster(env, tmp_path, ["ingest", "api"]) as nodes:
                for node in nodes:
                    await up(http, node)
                leader, replica = nodes

                async def leads() -> bool:
                    return (await leader_of(http, replica)) is not None

                await poll(leads, "a leader", timeout=60, every=0.2)
                async with following(f"ws://127.0.0.1:{replica.port}/ws/market") as f:
                    await poll(lambda: len(f.closes) >= 5, "closes", timeout=60, every=0.1)
                    database.stop()

                    async def degraded() -> bool:
                        reply = await http.get(f"{replica.base}/ready")
                        return reply.json().get("status") == "degraded"

                    await poll(degraded, "/ready to say degraded", timeout=30, every=0.1)
                    seen = len(f.closes)
                    # The outage lasts while the exchange closes ten more candles.
                    await poll(lambda: fake.exchange.clock.now() > f.closes[-1]["candle_time"] + 600,
                               "ten candles closed at the exchange", timeout=30, every=0.1)  # fmt: skip
                    database.start()
                    await poll(lambda: len(f.closes) >= seen + 20, "closes after the outage",
                               timeout=90, every=0.1)  # fmt: skip
                    assert ascending(f.closes), [c["candle_time"] for c in f.closes]
                    times = [c["candle_time"] for c in f.closes]
                    holes = [b for a, b in itertools.pairwise(times) if b - a != 60]
                    assert len(holes) <= len(f.gaps), (holes, f.gaps)
                    assert leader.process.poll() is None  # it stepped down, not out

                rows = await stored(http, replica)
                times = [int(r[0]) for r in rows]
                assert times == list(range(times[0], times[-1] + 60, 60))
                truth = exchange_history(fake, SERIES, times[0], times[-1])
                assert [tuple(r) for r in rows] == [tuple(map(float, t)) for t in truth]


async def test_a_frozen_leader_is_replaced_and_commits_nothing_on_resuming(
    fake: FakeVenue, postgres_dsn: str, redis: RedisServer, tmp_path: Path
) -> None:
    """A leader that stops answering (`SIGSTOP`: its connections stay open, as with a hung
    loop or a paused VM) loses the lead within the TTL of its last renewal; the standby
    streams on; the old leader, resumed, steps down and writes nothing over it."""
    env = cluster_env(fake, postgres_dsn, redis.url, tmp_path)
    async with httpx.AsyncClient(timeout=30) as http:
        with cluster(env, tmp_path, ["ingest", "ingest", "api"]) as nodes:
            for node in nodes:
                await up(http, node)
            ingest, replica = nodes[:2], nodes[2]

            async def leader_pid() -> int | None:
                name = await leader_of(http, replica)
                return None if name is None else int(name.rsplit(":", 1)[1])

            async def leads() -> bool:
                return await leader_pid() is not None

            await poll(leads, "a leader", timeout=60, every=0.2)
            frozen_pid = await leader_pid()
            frozen = next(n for n in ingest if n.process.pid == frozen_pid)
            standby = next(n for n in ingest if n is not frozen)
            async with following(f"ws://127.0.0.1:{replica.port}/ws/market") as f:
                await poll(lambda: len(f.closes) >= 5, "closes", timeout=60, every=0.1)
                frozen.process.send_signal(signal.SIGSTOP)
                try:

                    async def standby_leads() -> bool:
                        return await leader_pid() == standby.process.pid

                    await poll(standby_leads, "the standby to lead", timeout=TTL_S + 30,
                               every=0.1)  # fmt: skip
                    seen = len(f.closes)
                    await poll(lambda: len(f.closes) >= seen + 5, "closes from the new leader",
                               timeout=60, every=0.1)  # fmt: skip
                finally:
                    frozen.process.send_signal(signal.SIGCONT)

                async def stepped_down() -> bool:
                    return "lost the lead" in frozen.log.read_text()

                await poll(stepped_down, "the resumed leader to step down", timeout=60,
                           every=0.1)  # fmt: skip
                seen = len(f.closes)
                await poll(lambda: len(f.closes) >= seen + 5, "closes after the resume",
                           timeout=60, every=0.1)  # fmt: skip
                assert await leader_pid() == standby.process.pid
                assert frozen.process.poll() is None  # stepped down, not out
                assert ascending(f.closes), [c["candle_time"] for c in f.closes]
                times = [c["candle_time"] for c in f.closes]
                holes = [b for a, b in itertools.pairwise(times) if b - a != 60]
                assert len(holes) <= len(f.gaps), (holes, f.gaps)

            rows = await stored(http, replica)
            times = [int(r[0]) for r in rows]
            assert times == list(range(times[0], times[-1] + 60, 60))
            truth = exchange_history(fake, SERIES, times[0], times[-1])
            assert [tuple(r) for r in rows] == [tuple(map(float, t)) for t in truth]
