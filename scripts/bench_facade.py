"""Facade benchmark against the local Binance (its own process), two parts:

- the hot path of a bot's poll against its floor, measured in the same run: a raw SQLite
  page read of the same rows + orjson of the same body + one HTTP round trip of the same
  server (`/health`). For `GET /api/market/candles?limit=2000` and for
  `GET /binance/fapi/v1/klines?limit=1000` (the floor reads the candles joined with their
  kept extras, and its body is the venue's rows, prebuilt);
  repeated (as bots and charts ask) and uncached (each request another window, as the
  first request after a write).
- many simulated bots (default 50 bots x 20 pairs, each polling its pairs' klines with
  limit 1000 every few seconds, each bot on its own keep-alive connection): latency p50/p99
  and the exchange's kline requests per minute, through the facade and with the same load
  sent straight to the local exchange.

    .venv/bin/python scripts/bench_facade.py [--bots 50] [--pairs 20] [--every 5] [--seconds 60]

Prints tables and writes output/bench/facade.json. With `--fleet`, a fleet's cold start on
an empty store instead (`bench_fleet.py`): time to every bot's first exact answer, the
upstream weight per minute against the budget, 429s, 418s and timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bench_fleet
import httpx
import orjson
from bench_common import (
    KeepAliveClient,
    fake_binance,
    free_port,
    percentile,
    print_table,
    server_process,
    write_report,
)

from app.candle import KlineExtras, candle_to_dict
from app.exchanges.binance.wire import kline_row


def symbol(i: int) -> str:
    return f"SYM{i:04d}"


def series_id(i: int) -> str:
    return f"binance:futures:{symbol(i)}/USDT:USDT:1m"


def klines_path(i: int, limit: int) -> str:
    return f"/fapi/v1/klines?symbol={symbol(i)}USDT&interval=1m&limit={limit}"


async def p50_ms(call: Callable[[], Awaitable[Any]], n: int) -> float:
    await call()  # warm
    took = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        took.append(time.perf_counter() - t)
    return percentile(took, 50) * 1000


def p50_sync_ms(call: Callable[[], Any], n: int) -> float:
    call()
    took = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        took.append(time.perf_counter() - t)
    return percentile(took, 50) * 1000


async def bench_floors(port: int, db: Path, n: int) -> dict[str, Any]:
    """Our answers against their floors, each a p50 over `n` sequential requests."""
    client = KeepAliveClient("127.0.0.1", port)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    key = conn.execute("SELECT series_key FROM series WHERE series_id = ?", (series_id(0),))
    series_key = key.fetchone()[0]

    def read(limit: int, extras: bool = False) -> list[tuple[Any, ...]]:
        # Binance's rows: the candles with their kept extras, in one join.
        columns = ", e.quote_volume, e.trades, e.taker_base_volume, e.taker_quote_volume"
        joined = (" LEFT JOIN kline_extras e ON e.series_key = c.series_key "
                  "AND e.candle_time = c.candle_time")  # fmt: skip
        rows = conn.execute(
            "SELECT c.candle_time, c.open, c.high, c.low, c.close, c.volume"
            f"{columns if extras else ''} FROM candles c{joined if extras else ''} "
            "WHERE c.series_key = ? ORDER BY c.candle_time DESC LIMIT ?",
            (series_key, limit),
        ).fetchall()
        rows.reverse()
        return rows

    async def get(target: str) -> None:
        status, _ = await client.get(target)
        assert status == 200, (target, status)

    async def measure(limit: int, payload: Any, target: str, extras: bool) -> dict[str, Any]:
        read_ms = p50_sync_ms(lambda: read(limit, extras), n)
        dumps_ms = p50_sync_ms(lambda: orjson.dumps(payload), n)
        ours = await p50_ms(lambda: get(target), n)
        # Uncached: each request another window (limit), as the first after a write is.
        others = iter(range(limit - 1, 0, -1))
        cold = await p50_ms(
            lambda: get(target.replace(f"limit={limit}", f"limit={next(others)}")),
            min(n, limit // 2),
        )
        floor = rtt + read_ms + dumps_ms
        return {
            "ours_p50_ms": round(ours, 3),
            "floor_ms": round(floor, 3),
            "floor_parts_ms": {"sqlite_read": round(read_ms, 3),
                               "orjson": round(dumps_ms, 3), "round_trip": round(rtt, 3)},
            "ratio_to_floor": round(ours / floor, 3),
            "ours_uncached_p50_ms": round(cold, 3),
            "uncached_ratio_to_floor": round(cold / floor, 3),
            "target_ratio": 1.3,
        }  # fmt: skip

    try:
        rtt = await p50_ms(lambda: get("/health"), n)
        results: dict[str, Any] = {"health_round_trip_ms": round(rtt, 3)}
        candles = [candle_to_dict(r) for r in read(2000)]
        body = {"series_id": series_id(0), "server_head_time": candles[-1]["candle_time"],
                "candles": candles}  # fmt: skip
        target = f"/api/market/candles?series_id={series_id(0)}&limit=2000"
        results["candles_limit2000"] = await measure(2000, body, target, extras=False)
        klines = [
            kline_row(r[:6], "1m", None if r[6] is None else KlineExtras(r[0], *r[6:]))
            for r in read(1000, extras=True)
        ]
        target = "/binance" + klines_path(0, 1000)
        results["klines_limit1000"] = await measure(1000, klines, target, extras=True)
        return results
    finally:
        conn.close()
        await client.close()


async def bench_bots(
    base: str, port: int, bots: int, pairs: int, every: float, seconds: float, limit: int
) -> dict[str, Any]:
    """`bots` clients, each polling the klines of `pairs` pairs every `every` seconds."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def bot() -> None:
        nonlocal errors
        client = KeepAliveClient("127.0.0.1", port)
        await asyncio.sleep(random.uniform(0, every))  # bots do not start in step
        try:
            while time.monotonic() < deadline:
                cycle = time.monotonic()
                for i in range(pairs):
                    t = time.perf_counter()
                    status, _ = await client.get(base + klines_path(i, limit))
                    latencies.append(time.perf_counter() - t)
                    errors += status != 200
                await asyncio.sleep(max(0.0, every - (time.monotonic() - cycle)))
        finally:
            await client.close()

    started = time.monotonic()
    await asyncio.gather(*(bot() for _ in range(bots)))
    wall = time.monotonic() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "seconds": round(wall, 1),
    }


def kline_requests(rest: str) -> int:
    counts = httpx.get(f"{rest}/_fake/requests").json()
    return sum(n for path, n in counts.items() if path.endswith("/klines"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between polls")
    parser.add_argument("--seconds", type=float, default=60.0, help="per load run")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--floor-requests", type=int, default=300)
    parser.add_argument("--fleet", action="store_true", help="a fleet's cold start instead")
    parser.add_argument("--trades", type=int, default=3, help="--fleet: order books polled")
    args = parser.parse_args()
    if args.fleet:
        bench_fleet.main(args.bots, args.pairs, args.trades, args.every, args.seconds)
        return
    port = free_port()
    report: dict[str, Any] = {k: getattr(args, k) for k in ("bots", "pairs", "every", "limit")}
    with fake_binance(history_days=2, futures_symbols=args.pairs) as exchange:
        rest = exchange["TRADE_CANVAS_BINANCE_SPOT_REST_URL"]
        rest_port = int(rest.rsplit(":", 1)[1])
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "facade.sqlite"
            env = {
                "TRADE_CANVAS_DB_PATH": str(db),
                "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
                "TRADE_CANVAS_WHITELIST": ",".join(series_id(i) for i in range(args.pairs)),
                **exchange,
                "TRADE_CANVAS_BINANCE_BACKFILL_MAX_CANDLES": "2500",
            }
            with (
                server_process(env, port),
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
            ):
                wait_filled(http, args.pairs, 2000)
                floors = asyncio.run(bench_floors(port, db, args.floor_requests))
                report["floors"] = floors
                print("\nthe hot path against its floor (p50 of sequential requests, ms)")
                print_table(
                    [[name, f["ours_p50_ms"], f["floor_ms"], f["ratio_to_floor"],
                      f["ours_uncached_p50_ms"], f["uncached_ratio_to_floor"]]
                     for name, f in floors.items() if isinstance(f, dict)],
                    ["request", "ours", "floor", "ratio", "ours uncached", "ratio"],
                )  # fmt: skip
                runs = {}
                for via, base, target_port in (
                    ("trade-canvas facade", "/binance", port),
                    ("straight to the exchange", "", rest_port),
                ):
                    asked = kline_requests(rest)
                    run = asyncio.run(bench_bots(base, target_port, args.bots, args.pairs,
                                                 args.every, args.seconds, args.limit))  # fmt: skip
                    asked = kline_requests(rest) - asked
                    minutes = run["seconds"] / 60
                    run["upstream_kline_requests"] = asked
                    run["upstream_kline_requests_per_min"] = round(asked / minutes, 1)
                    # Candle boundaries crossed by the run, at least one.
                    candles = max(1.0, minutes)
                    run["upstream_kline_requests_per_series_per_candle"] = round(
                        asked / candles / args.pairs, 3
                    )
                    runs[via] = run
    report["bots"] = runs
    print(f"\n{args.bots} bots x {args.pairs} pairs, klines limit {args.limit} "
          f"every {args.every} s")  # fmt: skip
    print_table(
        [[via, r["requests"], r["errors"], r["req_per_s"], r["p50_ms"], r["p99_ms"],
          r["upstream_kline_requests_per_min"]] for via, r in runs.items()],
        ["via", "requests", "errors", "req/s", "p50 ms", "p99 ms", "exchange klines/min"],
    )  # fmt: skip
    path = write_report("facade", report)
    print(f"\nwrote {path}")


def wait_filled(http: httpx.Client, pairs: int, rows: int, timeout: float = 300) -> None:
    """Until every series is live and holds `rows` candles."""
    deadline = time.monotonic() + timeout
    while True:
        listing = http.get("/api/market/series").json()
        entries = listing["series"] if isinstance(listing, dict) else listing
        ready = sum(1 for e in entries if e.get("live") and (e.get("count") or 0) >= rows)
        if ready >= pairs:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ready} of {pairs} series filled")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
