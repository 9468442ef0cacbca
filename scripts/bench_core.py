"""Core benchmark: store upsert throughput against the plain-sqlite3 floor, candles HTTP
latency through uvicorn, and WebSocket fan-out to 1,000 clients.

    .venv/bin/python scripts/bench_core.py [--rows 1000000] [--clients 1000]

Prints a table and writes output/bench/core.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson
from bench_common import (
    KeepAliveClient,
    LeanWsClient,
    free_port,
    percentile,
    print_table,
    server_process,
    write_report,
)
from websockets.uri import parse_uri

from app.candle import Candle
from app.metrics import Metrics
from app.store.sqlite import SqliteCandleStore
from app.store.sqlite.schema import connect as sqlite_connect
from app.store.sqlite.schema import migrate

SERIES = "binance:spot:BTC/USDT:1m"
T0 = 1_500_000_000 - 1_500_000_000 % 60


def make_candles(n: int) -> list[Candle]:
    return [
        Candle(T0 + 60 * i, 100.0 + i % 97, 101.5 + i % 97, 99.0 + i % 97, 100.5 + i % 97, 3.25)
        for i in range(n)
    ]


def bench_floor(path: Path, candles: list[Candle]) -> float:
    conn = sqlite_connect(str(path))
    migrate(conn)
    conn.execute("INSERT INTO series (series_key, series_id) VALUES (1, ?)", (SERIES,))
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO candles (series_key, candle_time, open, high, low, close, volume) "
        "VALUES (1, ?, ?, ?, ?, ?, ?)",
        candles,
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def bench_upsert(path: Path, candles: list[Candle], batch: int) -> tuple[float, int]:
    metrics = Metrics()
    store = SqliteCandleStore(path, metrics)
    await store.open()
    started = time.perf_counter()
    for i in range(0, len(candles), batch):
        await store.upsert_many(SERIES, candles[i : i + batch])
    elapsed = time.perf_counter() - started
    await store.close()
    commits = int(metrics.registry.get_sample_value("trade_canvas_db_commits_total") or 0)
    return elapsed, commits


async def bench_http(port: int, limit: int, clients: int, requests_each: int) -> dict[str, Any]:
    target = f"/api/market/candles?series_id={SERIES}&limit={limit}"
    latencies: list[float] = []

    async def run_client() -> None:
        client = KeepAliveClient("127.0.0.1", port)
        try:
            status, body = await client.get(target)  # warm the connection
            assert status == 200 and len(orjson.loads(body)["candles"]) == limit
            for _ in range(requests_each):
                t = time.perf_counter()
                status, _ = await client.get(target)
                latencies.append(time.perf_counter() - t)
                assert status == 200
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(run_client() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {
        "limit": limit,
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "req_per_s": round(len(latencies) / wall, 1),
    }


def fanout_worker(ws_url: str, n: int, series_id: str, pipe: Connection) -> None:
    asyncio.run(_fanout_worker(ws_url, n, series_id, pipe))


async def _fanout_worker(ws_url: str, n: int, series_id: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    receipts: dict[int, float] = {}
    uri = parse_uri(ws_url)
    receivers = []
    for _ in range(n):
        _, receiver = await loop.create_connection(
            lambda: LeanWsClient(ws_url, receipts), uri.host, uri.port
        )
        await receiver.opened
        receiver.send_json({"type": "subscribe", "series_id": series_id})
        receivers.append(receiver)
    await asyncio.gather(*(r.catchup for r in receivers))
    pipe.send("ready")
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    pipe.send(receipts)
    for r in receivers:
        assert r.transport is not None
        r.transport.close()


def bench_fanout(
    port: int, clients: int, rounds: int, after: int, ws_ports: list[int] | None = None
) -> dict[str, Any]:
    """Closes POSTed to the server on `port`, received by `clients` split over the servers
    on `ws_ports` (default: the same one)."""
    ws_urls = [f"ws://127.0.0.1:{p}/ws/market" for p in (ws_ports or [port])]
    workers = 2
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for i in range(workers):
        parent, child = ctx.Pipe()
        n = clients // workers + (1 if i < clients % workers else 0)
        ws_url = ws_urls[i % len(ws_urls)]
        proc = ctx.Process(target=fanout_worker, args=(ws_url, n, SERIES, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        assert p.recv() == "ready"
    posted: dict[int, float] = {}
    post_s: dict[int, float] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        # New candles right after the stored ones: in the past, as the ingest API requires.
        start = after + 60
        for r in range(rounds):
            t = start + 60 * r
            candle = {"candle_time": t, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 1}
            posted[t] = time.monotonic()
            resp = http.post(
                "/api/market/ingest/candle_closed", json={"series_id": SERIES, "candle": candle}
            )
            assert resp.status_code == 200, resp.text
            post_s[t] = time.monotonic() - posted[t]
            time.sleep(0.15)  # let every client receive before the next round
    latest: dict[int, float] = {}
    for p in pipes:
        p.send("stop")
        for t, received in p.recv().items():
            latest[t] = max(latest.get(t, 0.0), received)
    for proc in procs:
        proc.join(10)
    missing = [t for t in posted if t not in latest]
    ordered = sorted(posted)
    # The first round is a warm-up: every client also gets a `gap` (the candle is far past
    # the head it subscribed at), so it is reported apart from the steady state.
    warmup = latest[ordered[0]] - posted[ordered[0]] if ordered[0] in latest else None
    lat = [latest[t] - posted[t] for t in ordered[1:] if t in latest]
    return {
        "clients": clients,
        "rounds": rounds - 1,
        "rounds_missing": len(missing),
        "p50_ms": round(percentile(lat, 50) * 1000, 2),
        "p99_ms": round(percentile(lat, 99) * 1000, 2),
        "max_ms": round(max(lat) * 1000, 2),
        "warmup_round_ms": None if warmup is None else round(warmup * 1000, 1),
        "rounds_ms": [round(x * 1000, 1) for x in lat],
        # The ingest POST returns after the commit: a slow round with a slow POST was
        # slow in SQLite, not in the fan-out.
        "post_ms": [round(post_s[t] * 1000, 1) for t in ordered[1:] if t in latest],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    report: dict[str, Any] = {"rows": args.rows, "batch": args.batch}

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        candles = make_candles(args.rows)
        floor_s = bench_floor(tmpdir / "floor.sqlite", candles)
        ours_s, commits = asyncio.run(bench_upsert(tmpdir / "store.sqlite", candles, args.batch))
        del candles
        report["upsert"] = {
            "floor_rows_per_s": round(args.rows / floor_s),
            "store_rows_per_s": round(args.rows / ours_s),
            "ratio_to_floor": round(floor_s / ours_s, 3),
            "commits": commits,
            "target_ratio": 0.8,
        }
        print("\nupsert of", args.rows, "1m candles in batches of", args.batch)
        u = report["upsert"]
        print_table(
            [
                ["sqlite3 executemany, one transaction (floor)", u["floor_rows_per_s"], ""],
                ["CandleStore.upsert_many", u["store_rows_per_s"], u["ratio_to_floor"]],
            ],
            ["what", "rows/s", "ratio to floor"],
        )

        port = free_port()
        env = {
            "TRADE_CANVAS_DB_PATH": str(tmpdir / "store.sqlite"),
            "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
            "TRADE_CANVAS_ENABLE_INGEST_API": "1",
            "TRADE_CANVAS_LIVE_INGEST": "0",  # the hub alone: no exchange behind it
            # Every simulated client comes from 127.0.0.1: one address, many clients.
            "TRADE_CANVAS_WS_MAX_CONNECTIONS_PER_ADDRESS": "100000",
        }
        with server_process(env, port):
            http_rows = []
            for limit in (500, 2000):
                for clients in (1, 32):
                    each = 400 if clients == 1 else 25
                    http_rows.append(asyncio.run(bench_http(port, limit, clients, each)))
            report["http_candles"] = {"runs": http_rows, "target_p50_ms_limit2000_1client": 5}
            print("\nGET /api/market/candles with", args.rows, "candles stored")
            print_table(
                [
                    [
                        r["limit"],
                        r["clients"],
                        r["requests"],
                        r["p50_ms"],
                        r["p99_ms"],
                        r["req_per_s"],
                    ]
                    for r in http_rows
                ],
                ["limit", "clients", "requests", "p50 ms", "p99 ms", "req/s"],
            )
            report["fanout"] = bench_fanout(port, args.clients, args.rounds, T0 + 60 * args.rows)
            report["fanout"]["target_p99_ms"] = 100
            f = report["fanout"]
            print(f"\nfan-out: ingest POST to the last of {f['clients']} clients")
            print_table(
                [[f["rounds"], f["rounds_missing"], f["p50_ms"], f["p99_ms"], f["max_ms"]]],
                ["rounds", "missing", "p50 ms", "p99 ms", "max ms"],
            )
    path = write_report("core", report)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
