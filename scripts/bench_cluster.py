"""Cluster benchmark: the same WebSocket fan-out on one process and on two API replicas
fed by the Redis bus, and the bus's lag at 1,000 closed candles a second.

    .venv/bin/python scripts/bench_cluster.py [--clients 1000 10000] [--rounds 60]

PostgreSQL and Redis are throwaway instances (Debian's packages: `scripts/setup.sh
--servers`). Prints tables and writes output/bench/cluster.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from bench_common import ROOT, free_port, percentile, print_table, server_process, write_report
from bench_core import T0, bench_fanout
from websockets.asyncio.client import connect

from app.bus.redis import RedisBus, connect_redis
from app.bus.redis.metrics import BusMetrics
from app.clock import SYSTEM_CLOCK
from app.hub import CandleWriter
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.store import build_store

sys.path.insert(0, str(ROOT / "backend"))
from tests.postgres_cluster import create_database, postgres_cluster
from tests.redis_server import redis_server

BASE_ENV = {
    "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
    "TRADE_CANVAS_ENABLE_INGEST_API": "1",
    "TRADE_CANVAS_LIVE_INGEST": "0",  # the hub alone: no exchange behind it
    "TRADE_CANVAS_WS_MAX_CONNECTIONS_PER_ADDRESS": "100000",
    "TRADE_CANVAS_WS_MAX_SUBSCRIPTIONS": "1000",
    # One client subscribes to every series at once.
    "TRADE_CANVAS_WS_MESSAGES_PER_S": "100000",
    "TRADE_CANVAS_WS_MESSAGE_BURST": "100000",
}


@contextlib.contextmanager
def servers(envs: list[dict[str, str]]) -> Iterator[list[int]]:
    with contextlib.ExitStack() as stack:
        ports = []
        for env in envs:
            port = free_port()
            stack.enter_context(server_process({**BASE_ENV, **env}, port))
            ports.append(port)
        yield ports


def fanout_runs(dsn: str, bus: str, clients: int, rounds: int, after: int) -> dict[str, Any]:
    one = {"TRADE_CANVAS_STORE_URL": dsn}
    replica = {**one, "TRADE_CANVAS_BUS_URL": bus, "TRADE_CANVAS_ROLE": "api"}
    with servers([one]) as (port,):
        single = bench_fanout(port, clients, rounds, after)
    # A third process commits (the ingest POST), as the leader would.
    with servers([replica, replica]) as (a, b), servers([replica]) as (writer,):
        double = bench_fanout(writer, clients, rounds, after + 60 * (rounds + 1), [a, b])
    return {"clients": clients, "one_process": single, "two_replicas": double}


async def bus_lag(dsn: str, bus: str, series: int, per_s: int, seconds: float) -> dict[str, Any]:
    """A writer (the real CandleWriter on the real store, publishing on Redis) commits
    `per_s` closes a second over `series` series; a replica's client follows them all."""
    ids = [f"binance:futures:SYM{i:04d}/USDT:USDT:1m" for i in range(series)]
    env = {"TRADE_CANVAS_STORE_URL": dsn, "TRADE_CANVAS_BUS_URL": bus,
           "TRADE_CANVAS_ROLE": "api"}  # fmt: skip
    metrics = Metrics()
    store = build_store(dsn, ROOT / "unused", metrics)
    await store.open()
    client = await connect_redis(bus)
    publisher = RedisBus(client, BusMetrics(metrics), SYSTEM_CLOCK)
    publisher.start()
    writer = CandleWriter(store, SeriesLocks(), publisher, SYSTEM_CLOCK)
    committed: dict[tuple[str, int], float] = {}
    received: dict[tuple[str, int], float] = {}
    with servers([env]) as (port,):
        async with connect(f"ws://127.0.0.1:{port}/ws/market", max_queue=None) as ws:
            for series_id in ids:
                await ws.send(orjson.dumps({"type": "subscribe", "series_id": series_id}).decode())

            all_in = asyncio.Event()
            writing = True

            async def read() -> None:
                async for raw in ws:
                    msg = orjson.loads(raw)
                    if msg["type"] == "candle_closed":
                        key = (msg["series_id"], msg["candle"]["candle_time"])
                        received[key] = time.time()
                        if not writing and len(received) >= len(committed):
                            all_in.set()

            reader = asyncio.create_task(read())
            await asyncio.sleep(1.0)  # the catchups
            batch = per_s // 10
            started = time.monotonic()
            tick = 0
            while time.monotonic() - started < seconds:
                t = T0 + 60 * tick
                for j in range(0, series, batch):
                    rows = {s: [(t, 1.0, 2.0, 0.5, 1.5, 3.0)] for s in ids[j : j + batch]}
                    await writer.commit_closed_many(rows)
                    now = time.time()
                    committed.update({(s, t): now for s in rows})
                    due = started + len(committed) / per_s
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                tick += 1
            wall = time.monotonic() - started
            writing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 10)
            reader.cancel()
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    await publisher.stop()
    await client.aclose()
    await store.close()
    lags = [received[k] - committed[k] for k in committed if k in received]
    return {
        "closes": len(committed),
        "closes_per_s": round(len(committed) / wall),
        "missing": len(committed) - len(lags),
        "commit_to_client_p50_ms": round(percentile(lags, 50) * 1000, 2),
        "commit_to_client_p99_ms": round(percentile(lags, 99) * 1000, 2),
        "bus_lag_p99_ms_bucket": _histogram_p99(text, "trade_canvas_bus_lag_seconds"),
        "bus_lag_buckets": [
            line
            for line in text.splitlines()
            if line.startswith("trade_canvas_bus_lag_seconds_bucket")
        ],
        "target_bus_lag_p99_ms": 10,
    }


def _histogram_p99(metrics_text: str, name: str) -> float | None:
    """The upper bound (ms) of the bucket holding the 99th percentile."""
    buckets = []
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(round(le * 1000, 2) for le, count in buckets if count >= 0.99 * total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with postgres_cluster() as admin, redis_server() as redis:
        create_database(admin, "bench")
        dsn = admin.replace("/postgres?", "/bench?")
        after = T0
        runs = []
        for clients in args.clients:
            runs.append(fanout_runs(dsn, redis.url, clients, args.rounds, after))
            after += 60 * 2 * (args.rounds + 2)
        report["fanout"] = runs
        print("\nfan-out: ingest POST to the last client (ms), one process vs two replicas")
        print_table(
            [[r["clients"], where, r[key]["p50_ms"], r[key]["p99_ms"], r[key]["rounds_missing"]]
             for r in runs for where, key in (("1 process", "one_process"),
                                              ("2 replicas", "two_replicas"))],
            ["clients", "served by", "p50 ms", "p99 ms", "rounds missing"],
        )  # fmt: skip
        lag = asyncio.run(bus_lag(dsn, redis.url, 1_000, 1_000, args.lag_seconds))
        report["bus_lag"] = lag
        print("\nbus: 1,000 closes a second over 1,000 series, committed by one process, "
              "followed on a replica")  # fmt: skip
        print_table(
            [[lag["closes"], lag["closes_per_s"], lag["missing"], lag["bus_lag_p99_ms_bucket"],
              lag["commit_to_client_p50_ms"], lag["commit_to_client_p99_ms"]]],
            ["closes", "per s", "missing", "bus lag p99 (bucket) ms", "commit->client p50 ms",
             "p99 ms"],
        )  # fmt: skip
    path = write_report("cluster", report)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
