"""Run one benchmark on this checkout and on an earlier commit, alternately, in one run, so
the machine's noise falls on both alike; print the figures side by side.

    .venv/bin/python scripts/bench_against.py --base 88ccabb [--bench core|live|facade] [--runs 3]
        [-- bench args]

`core`: fan-out latency and HTTP reads (bench_core.py). `live`: ingest of 1,000 live
series (bench_live.py): server CPU, frames handled, closes broadcast after each minute.
`facade`: the facades' hot path and 50 polling bots (bench_facade.py).
The earlier commit is checked out into a temporary git worktree; this checkout's bench
script measures both, with the same virtualenv and the commit's `backend/` first on
PYTHONPATH (the server process inherits it). Writes output/bench/against-<bench>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench_common import ROOT, print_table, write_report


def run_bench(bench: str, backend: Path, extra: list[str]) -> dict[str, Any]:
    """This checkout's bench script (the same measurement for both) on `backend`'s code."""
    env = {**os.environ, "PYTHONPATH": str(backend)}
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / f"bench_{bench}.py"), *extra],
        env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    path = ROOT / "output" / "bench" / f"{bench}.json"
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def core_figures(report: dict[str, Any]) -> dict[str, float]:
    fan = report["fanout"]
    http = {(r["limit"], r["clients"]): r for r in report["http_candles"]["runs"]}
    return {
        "fanout_p50_ms": fan["p50_ms"],
        "fanout_p99_ms": fan["p99_ms"],
        "http_limit2000_p50_ms": http[(2000, 1)]["p50_ms"],
    }


def live_figures(report: dict[str, Any]) -> dict[str, float]:
    stream = report["stream"]
    after = [b["all_broadcast_after_boundary_s"] for b in report["closes"]["boundaries"]]
    return {
        "ingest_cpu_percent": stream["server_cpu_percent_of_one_core"],
        "forming_frames_per_s": stream["forming_frames_per_s"],
        "closes_broadcast_after_s": statistics.median(after) if after else float("nan"),
        "server_rss_mb": report["memory"]["server_rss_mb"],
    }


def facade_figures(report: dict[str, Any]) -> dict[str, float]:
    floors = report["floors"]
    bots = report["bots"]["trade-canvas facade"]
    return {
        "candles_limit2000_p50_ms": floors["candles_limit2000"]["ours_p50_ms"],
        "klines_limit1000_p50_ms": floors["klines_limit1000"]["ours_p50_ms"],
        "klines_uncached_p50_ms": floors["klines_limit1000"]["ours_uncached_p50_ms"],
        # Each against its floor measured in the same run: the machine's drift between runs
        # (larger than the sub-millisecond figures' differences) falls on both alike.
        "candles_limit2000_to_floor": floors["candles_limit2000"]["ratio_to_floor"],
        "klines_limit1000_to_floor": floors["klines_limit1000"]["ratio_to_floor"],
        "bots_p50_ms": bots["p50_ms"],
        "bots_p99_ms": bots["p99_ms"],
    }


BENCHES = {
    "core": (core_figures, ["--rows", "200000", "--rounds", "100"]),
    "live": (live_figures, ["--seconds", "60"]),
    "facade": (facade_figures, ["--seconds", "30", "--floor-requests", "200"]),
}


def _median(values: Iterable[float]) -> float:
    """The median of the runs that measured it (a live run whose minutes all passed while
    its backfill waited for the budget has no close figure)."""
    measured = [v for v in values if not math.isnan(v)]
    return statistics.median(measured) if measured else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the earlier commit")
    parser.add_argument("--bench", choices=sorted(BENCHES), default="core")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="arguments for the bench script")
    args = parser.parse_args()
    figures, default_extra = BENCHES[args.bench]
    extra = args.extra or default_extra
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
            for i in range(args.runs):
                for name, checkout in (("base", base), ("head", ROOT)):
                    runs[name].append(figures(run_bench(args.bench, checkout / "backend", extra)))
                    print(f"run {i + 1} {name}: {runs[name][-1]}", flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )
    keys = list(runs["base"][0])
    medians = {name: {k: _median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    ratios = {k: round(medians["head"][k] / medians["base"][k], 3) for k in keys}
    print(f"\nmedians of {args.runs} alternating runs, head vs {args.base}")
    print_table(
        [[k, medians["base"][k], medians["head"][k], ratios[k]] for k in keys],
        ["figure", "base", "head", "head / base"],
    )
    report = {"base": args.base, "bench": args.bench, "bench_args": extra, "runs": runs,
              "medians": medians, "ratios": ratios}  # fmt: skip
    print(f"\nwrote {write_report(f'against-{args.bench}', report)}")


if __name__ == "__main__":
    main()
