"""Live-ingest benchmark against the local Binance, each part in its own process:

- one connection carrying 1,000 futures kline streams at Binance's 250 ms cadence: frames
  per second handled, server CPU, lag from the exchange's event time to `candle_forming`
  at a client;
- the closes of those 1,000 series at each minute boundary: time until all are committed
  and broadcast, and the batches (transactions) it took;
- memory with the 1,000 live series and 500 WebSocket clients.

    .venv/bin/python scripts/bench_live.py [--seconds 60] [--series 1000] [--clients 500]

Prints a table and writes output/bench/live.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shutil
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from bench_common import (
    ROOT,
    LeanWsClient,
    fake_binance,
    free_port,
    percentile,
    print_table,
    server_process,
    write_report,
)
from websockets.uri import parse_uri

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def metric_sum(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


async def _watch(ws_url: str, series: list[str], seconds: float) -> dict[str, Any]:
    """One client subscribed to every series: forming lag and closed-candle receipts."""
    lags: list[float] = []
    closed: dict[int, list[float]] = {}

    def on_message(msg: dict[str, Any], now: float) -> None:
        if msg["type"] == "candle_forming" and "event_time" in msg:
            lags.append(time.time() - msg["event_time"] / 1000)
        elif msg["type"] == "candle_closed":
            closed.setdefault(msg["candle"]["candle_time"], []).append(time.time())

    loop = asyncio.get_running_loop()
    uri = parse_uri(ws_url)
    _, client = await loop.create_connection(
        lambda: LeanWsClient(ws_url, {}, on_message), uri.host, uri.port
    )
    await client.opened
    for sid in series:
        client.send_json({"type": "subscribe", "series_id": sid})
    await asyncio.sleep(seconds)
    assert client.transport is not None
    client.transport.close()
    return {"lags": lags, "closed": closed}


def clients_worker(ws_url: str, n: int, series: list[str], pipe: Connection) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        uri = parse_uri(ws_url)
        clients = []
        rng = random.Random(1)
        for _ in range(n):
            _, c = await loop.create_connection(
                lambda: LeanWsClient(ws_url, {}), uri.host, uri.port
            )
            await c.opened
            for sid in rng.sample(series, 2):
                c.send_json({"type": "subscribe", "series_id": sid})
            clients.append(c)
        pipe.send("ready")
        await loop.run_in_executor(None, pipe.recv)
        for c in clients:
            assert c.transport is not None
            c.transport.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument(
        "--watch", type=int, default=0, help="series the lag client watches (default: all)"
    )
    parser.add_argument(
        "--datadir-write", action="store_true",
        help="with TRADE_CANVAS_DATADIR_WRITE=1 (every 10 s), to compare with a run without",
    )  # fmt: skip
    args = parser.parse_args()
    port = free_port()
    series = [f"binance:futures:SYM{i:04d}/USDT:USDT:1m" for i in range(args.series)]
    report: dict[str, Any] = {"series": args.series, "seconds": args.seconds}
    with fake_binance(history_days=1, futures_symbols=args.series) as exchange:
        env = {
            **exchange,
            "TRADE_CANVAS_DB_PATH": str(ROOT / "output" / "bench" / "live.sqlite"),
            "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
            "TRADE_CANVAS_WHITELIST": ",".join(series),
            "TRADE_CANVAS_ENABLE_DEBUG_API": "1",
            "TRADE_CANVAS_BINANCE_BACKFILL_MAX_CANDLES": "3",
            "TRADE_CANVAS_BINANCE_WS_BATCH_MAX": "5000",
            "TRADE_CANVAS_WS_MAX_SUBSCRIPTIONS": str(args.series),
            # One client subscribes to every series at once.
            "TRADE_CANVAS_WS_MESSAGE_BURST": str(args.series + 10),
            "TRADE_CANVAS_WS_SEND_QUEUE_MAX": "20000",
            # Every simulated client comes from 127.0.0.1: one address, many clients.
            "TRADE_CANVAS_WS_MAX_CONNECTIONS_PER_ADDRESS": "100000",
        }
        if args.datadir_write:
            datadir = ROOT / "output" / "bench" / "live-datadir" / "binance"
            shutil.rmtree(datadir.parent, ignore_errors=True)
            env.update({
                "TRADE_CANVAS_DATADIR_WRITE": "1",
                "TRADE_CANVAS_DATADIR_WRITE_EVERY_S": "10",
                "TRADE_CANVAS_FREQTRADE_DATADIR": str(datadir),
            })  # fmt: skip
            report["datadir_write"] = True
        for suffix in ("", "-wal", "-shm"):
            Path(env["TRADE_CANVAS_DB_PATH"] + suffix).unlink(missing_ok=True)
        with (
            server_process(env, port) as proc,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            started = time.monotonic()
            while True:
                state = http.get("/api/market/debug/ingest_state").json()
                live = sum(1 for j in state["jobs"] if j["state"] == "live")
                if live == args.series:
                    break
                if time.monotonic() - started > 300:
                    raise RuntimeError(f"only {live} series went live")
                time.sleep(1)
            report["time_to_all_live_s"] = round(time.monotonic() - started, 1)
            # Keyed by venue and market; by market alone before the second venue came.
            by_feed = state["connections"]
            connections = by_feed.get("binance:futures") or by_feed["futures"]
            time.sleep(5)  # let start-up backfills settle
            before = http.get("/metrics").text
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            watch = series[: args.watch] if args.watch else series
            ws_url = f"ws://127.0.0.1:{port}/ws/market"
            watched = asyncio.run(_watch(ws_url, watch, args.seconds))
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            after = http.get("/metrics").text
            frames = metric_sum(after, "trade_canvas_ingest_forming_received_total") - metric_sum(
                before, "trade_canvas_ingest_forming_received_total"
            )
            batches = metric_sum(after, "trade_canvas_ingest_batch_db_seconds_count") - (
                metric_sum(before, "trade_canvas_ingest_batch_db_seconds_count")
            )
            lags = watched["lags"]
            report["stream"] = {
                "connections": len(connections),
                "streams_on_first_connection": connections[0]["streams"],
                "forming_frames_per_s": round(frames / (t1 - t0), 1),
                "server_cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                "forming_lag_p50_ms": round(percentile(lags, 50) * 1000, 2),
                "forming_lag_p99_ms": round(percentile(lags, 99) * 1000, 2),
                "forming_messages_at_client": len(lags),
                "client_watches_series": len(watch),
                "target_cpu_percent": 25,
                "target_lag_p99_ms": 50,
            }
            boundaries = []
            for candle_time, receipts in sorted(watched["closed"].items()):
                if len(receipts) == len(watch):
                    boundary = candle_time + 60
                    boundaries.append(
                        {
                            "candle_time": candle_time,
                            "all_broadcast_after_boundary_s": round(max(receipts) - boundary, 3),
                            "first_to_last_s": round(max(receipts) - min(receipts), 3),
                        }
                    )
            report["closes"] = {
                "boundaries": boundaries,
                "ingest_batches_in_window": int(batches),
                "target_s": 1.0,
            }
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe()
            worker = ctx.Process(
                target=clients_worker,
                args=(f"ws://127.0.0.1:{port}/ws/market", args.clients, series, child),
                daemon=True,
            )
            worker.start()
            assert parent.recv() == "ready"
            time.sleep(10)
            report["memory"] = {
                "ws_clients": args.clients,
                "live_series": args.series,
                "server_rss_mb": round(rss_mb(proc.pid), 1),
                "server_peak_rss_mb": round(rss_mb(proc.pid, "VmHWM"), 1),
                "target_rss_mb": 300,
            }
            parent.send("stop")
            worker.join(30)
            if args.datadir_write:
                files = list((ROOT / "output" / "bench" / "live-datadir").rglob("*.feather"))
                report["datadir_files_written"] = len(files)
    s, m = report["stream"], report["memory"]
    print(f"\n{args.series} futures kline streams, {args.seconds:g} s")
    print_table(
        [[s["connections"], s["forming_frames_per_s"], s["server_cpu_percent_of_one_core"],
          s["forming_lag_p50_ms"], s["forming_lag_p99_ms"]]],
        ["connections", "frames/s", "server CPU %", "lag p50 ms", "lag p99 ms"],
    )  # fmt: skip
    print(f"\ncloses of all {args.series} series at a minute boundary")
    print_table(
        [[b["candle_time"], b["all_broadcast_after_boundary_s"], b["first_to_last_s"]]
         for b in report["closes"]["boundaries"]],
        ["candle", "all broadcast after boundary s", "first to last s"],
    )  # fmt: skip
    print(f"ingest batches in the window: {report['closes']['ingest_batches_in_window']}")
    print(f"\nmemory: {m['server_rss_mb']} MB RSS ({m['server_peak_rss_mb']} MB peak) with "
          f"{args.series} live series and {args.clients} WebSocket clients")  # fmt: skip
    if args.datadir_write:
        print(f"datadir write-through on: {report.get('datadir_files_written')} files written")
    path = write_report("live-datadir-write" if args.datadir_write else "live", report)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
