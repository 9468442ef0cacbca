"""One hot read, this checkout against an earlier commit, both servers running side by side.

    .venv/bin/python scripts/bench_ab.py --base 54739dd [--read klines|candles] [--blocks 12]
        [--requests 300]

`bench_against.py` runs the two one after the other: a sub-millisecond read then differs
between runs by more than any change makes it differ. Here both servers (each its own
SQLite store, 20 whitelisted futures series streaming from one local Binance) run at
once, and alternating blocks of sequential requests (`klines`: the Binance facade's
`fapi/v1/klines?limit=1000`; `candles`: `GET /api/market/candles?limit=2000`, both
cached renderings) go to each, the order flipped every block: what the machine does
meanwhile falls on both alike. Prints each block's p50 and the median of them; writes
output/bench/ab-<read>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from bench_common import (
    ROOT,
    KeepAliveClient,
    fake_binance,
    free_port,
    percentile,
    print_table,
    server_process,
    write_report,
)
from bench_facade import klines_path, series_id, wait_filled

PAIRS = 20


@contextmanager
def base_checkout(commit: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
            )


async def block_p50_ms(port: int, target: str, n: int) -> float:
    client = KeepAliveClient("127.0.0.1", port)
    try:
        await client.get(target)  # warm
        took = []
        for _ in range(n):
            t = time.perf_counter()
            status, _ = await client.get(target)
            took.append(time.perf_counter() - t)
            assert status == 200, (target, status)
        return percentile(took, 50) * 1000
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the earlier commit")
    parser.add_argument("--read", choices=("klines", "candles"), default="klines")
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--requests", type=int, default=300, help="per block")
    args = parser.parse_args()
    target = (
        "/binance" + klines_path(0, 1000)
        if args.read == "klines"
        else f"/api/market/candles?series_id={series_id(0)}&limit=2000"
    )
    with ExitStack() as stack:
        base = stack.enter_context(base_checkout(args.base))
        exchange = stack.enter_context(fake_binance(history_days=2, futures_symbols=PAIRS))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ports: dict[str, int] = {}
        for name, backend in (("base", base / "backend"), ("head", ROOT / "backend")):
            ports[name] = free_port()
            env = {
                "PYTHONPATH": str(backend),  # the server process runs this checkout's code
                "TRADE_CANVAS_DB_PATH": str(tmp / f"{name}.sqlite"),
                "TRADE_CANVAS_MARKET_HISTORY_SOURCE": "off",
                "TRADE_CANVAS_WHITELIST": ",".join(series_id(i) for i in range(PAIRS)),
                **exchange,
                "TRADE_CANVAS_BINANCE_BACKFILL_MAX_CANDLES": "2500",
            }
            stack.enter_context(server_process(env, ports[name]))
        for port in ports.values():
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                wait_filled(http, PAIRS, 2000)
        blocks: dict[str, list[float]] = {"base": [], "head": []}
        for i in range(args.blocks):
            for name in ("base", "head") if i % 2 == 0 else ("head", "base"):
                blocks[name].append(asyncio.run(block_p50_ms(ports[name], target, args.requests)))
            print(f"block {i + 1}: base {blocks['base'][-1]:.3f} ms, head "
                  f"{blocks['head'][-1]:.3f} ms", flush=True)  # fmt: skip
    medians = {name: statistics.median(values) for name, values in blocks.items()}
    ratio = round(medians["head"] / medians["base"], 3)
    print(f"\n{args.read}: median of {args.blocks} block p50s, head vs {args.base}")
    print_table(
        [[args.read, round(medians["base"], 3), round(medians["head"], 3), ratio]],
        ["read", "base ms", "head ms", "head / base"],
    )
    report = {
        "base": args.base, "read": args.read, "target": target, "blocks": blocks,
        "requests_per_block": args.requests, "medians_ms": medians, "ratio": ratio,
    }  # fmt: skip
    print(f"\nwrote {write_report(f'ab-{args.read}', report)}")


if __name__ == "__main__":
    main()
