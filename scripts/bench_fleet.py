"""A fleet's cold start, as `scripts/bench_facade.py --fleet` runs it: `--bots` ccxt clients
(50), each from its own loopback address and each following `--pairs` USDT-M pairs (20,
the same for every bot, as a fleet trades one whitelist), start at once against a server
with an empty store and empty datadir, in front of the local Binance (its own process,
applying Binance's weights, 429s and 418 bans). Each bot loads the market list, reads its
pairs' klines (limit 1000, as freqtrade's first refresh), then polls them every `--every`
seconds and the order book (limit 5: freqtrade's `order_book_top` 1) of its `--trades`
open trades, as freqtrade does each loop. Meanwhile the server downloads each pair's
history (freqtrade's download-data, through its own facade) in the background.

Printed: the time until every bot has its first exact answer (checked against the
exchange's own candles; and until each has one for every pair, which each bot's own ccxt
throttle paces, as freqtrade's does), the upstream weight of each minute against the
server's budget (`BINANCE_REST_WEIGHT_BUDGET_PER_MIN`), by whom it was spent, and the 429s,
418s and client timeouts seen. Written to output/bench/fleet.json."""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import httpx
from bench_common import (
    fake_binance,
    free_port,
    percentile,
    print_table,
    server_process,
    write_report,
)

from local_exchange.market import SymbolModel

FUTURES_SEED = 1 + 7  # the local exchange's futures models (FakeExchange(seed=1))


def pair(i: int) -> str:
    return f"SYM{i:04d}/USDT:USDT"


class Bot:
    """One freqtrade-like client of the facade, from its own address."""

    def __init__(self, index: int, base: str, pairs: int, trades: int) -> None:
        self.address = f"127.0.{1 + index // 250}.{1 + index % 250}"
        self.pairs = [pair(i) for i in range(pairs)]
        self.trades = random.sample(self.pairs, min(trades, pairs))
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(self.address, 0))
        )
        self.client = ccxt_async.binance({
            "session": self.session,
            "urls": {"api": {"public": f"{base}/api/v3", "fapiPublic": f"{base}/fapi/v1",
                             "fapiPublicV2": f"{base}/fapi/v2"}},
            "options": {"defaultType": "future", "fetchMarkets": {"types": ["linear"]}},
            "timeout": 10_000,  # ccxt's default: what a bot gives up after
            "enableRateLimit": True,
        })  # fmt: skip
        self.outcomes: Counter[str] = Counter()
        self.first_s: float | None = None  # its first answer (of its first pair)
        self.first_pair = ""
        self.first_exact_s: float | None = None  # every pair's first answer
        self.markets_s: float | None = None
        self.first_answers: dict[str, list[list[float]]] = {}
        self.last_answers: dict[str, list[list[float]]] = {}

    def check(self) -> None:
        """Every answer kept is the exchange's own, else the bot has no first exact answer."""
        if not all(exact(p, rows) for p, rows in self.first_answers.items()):
            self.first_exact_s = None
        if self.first_pair and not exact(self.first_pair, self.first_answers[self.first_pair]):
            self.first_s = None
        self.outcomes["inexact"] += sum(not exact(p, rows) for p, rows in self.last_answers.items())

    async def ask(self, call: Any, *args: Any, **kw: Any) -> Any:
        try:
            answer = await call(*args, **kw)
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
            self.outcomes["429"] += 1
        except ccxt.RequestTimeout:
            self.outcomes["timeout"] += 1
        except ccxt.BaseError as e:
            self.outcomes[f"error {type(e).__name__}"] += 1
        else:
            self.outcomes["ok"] += 1
            return answer
        return None

    async def run(self, started: float, every: float, until: float) -> None:
        try:
            await self.ask(self.client.load_markets)
            self.markets_s = time.monotonic() - started

            async def first_of(p: str) -> Any:
                rows = await self.ask(self.client.fetch_ohlcv, p, "1m", limit=1000)
                if rows is not None and self.first_s is None:
                    self.first_s, self.first_pair = time.monotonic() - started, p
                return rows

            first = await asyncio.gather(*(first_of(p) for p in self.pairs))
            took = time.monotonic() - started
            # Checked after the clock is read: the check is the benchmark's work, not the
            # server's (the last answer of each pair is checked too, at the end).
            if all(rows is not None for rows in first):
                self.first_answers = {p: rows for p, rows in zip(self.pairs, first, strict=True)}
                self.first_exact_s = took
            while time.monotonic() < until:
                cycle = time.monotonic()
                for p in self.trades:
                    await self.ask(self.client.fetch_order_book, p, 5)
                for p in self.pairs:
                    rows = await self.ask(self.client.fetch_ohlcv, p, "1m", limit=1000)
                    if rows is not None:
                        self.last_answers[p] = rows
                await asyncio.sleep(max(0.0, every - (time.monotonic() - cycle)))
        finally:
            await self.client.close()
            await self.session.close()


def exact(symbol: str, rows: list[list[float]]) -> bool:
    """The closed rows (all but the forming last) are the exchange's own, contiguous."""
    closed = rows[:-1]
    if len(closed) < 999:
        return False
    for row in closed:
        if row[1:6] != _truth(symbol, int(row[0]) // 1000):
            return False
    return all(b[0] - a[0] == 60_000 for a, b in itertools.pairwise(closed))


@functools.cache
def _truth(symbol: str, open_time: int) -> list[float]:
    k = _model(symbol).kline("1m", open_time)
    return [float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume)]


@functools.cache
def _model(symbol: str) -> SymbolModel:
    return SymbolModel(symbol.split("/")[0] + "USDT", FUTURES_SEED)


def fleet(bots: int, pairs: int, trades: int, every: float, seconds: float) -> dict[str, Any]:
    port = free_port()
    with fake_binance(history_days=30, futures_symbols=pairs) as exchange, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        rest = exchange["TRADE_CANVAS_BINANCE_SPOT_REST_URL"]
        (Path(tmp) / "data").mkdir()
        env = {
            "TRADE_CANVAS_DB_PATH": str(Path(tmp) / "fleet.sqlite"),
            "TRADE_CANVAS_FREQTRADE_DATADIR": str(Path(tmp) / "data"),
            # Every pair a bot asks for is kept live: room for all of them.
            "TRADE_CANVAS_ONDEMAND_MAX_JOBS": str(max(16, 2 * pairs)),
            **exchange,
        }
        with server_process(env, port):
            base = f"http://127.0.0.1:{port}/binance"
            fleet_bots: list[Bot] = []

            async def run_all() -> None:
                fleet_bots.extend(Bot(i, base, pairs, trades) for i in range(bots))
                started = time.monotonic()
                until = started + seconds
                await asyncio.gather(*(b.run(started, every, until) for b in fleet_bots))

            asyncio.run(run_all())
            for b in fleet_bots:
                b.check()
            weight = httpx.get(f"{rest}/_fake/weight").json()
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    spent: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("trade_canvas_upstream_weight_spent_total{"):
            caller = line.split('caller="')[1].split('"')[0]
            spent[caller] = spent.get(caller, 0.0) + float(line.rsplit(" ", 1)[1])
    outcomes: Counter[str] = Counter()
    for b in fleet_bots:
        outcomes.update(b.outcomes)
    firsts = [b.first_s for b in fleet_bots if b.first_s is not None]
    all_pairs = [b.first_exact_s for b in fleet_bots if b.first_exact_s is not None]
    markets = [b.markets_s for b in fleet_bots if b.markets_s is not None]
    return {
        "bots": bots,
        "pairs": pairs,
        "trades": trades,
        "every_s": every,
        "seconds": seconds,
        "first_exact_answer_s": round(max(firsts), 2) if len(firsts) == bots else None,
        "bots_without_a_first_exact_answer": bots - len(firsts),
        "first_exact_answer_p50_s": round(percentile(firsts, 50), 2),
        # Each bot's 20 first reads are paced by its own ccxt throttle, as freqtrade's are.
        "every_pair_exact_s": round(max(all_pairs), 2) if len(all_pairs) == bots else None,
        "market_list_s": round(max(markets, default=float("nan")), 2),
        "weight_per_minute": weight["per_minute"],
        "venue_answered": weight["answered"],
        "weight_spent_by_caller": dict(spent),
        "client_outcomes": dict(outcomes),
    }


def print_fleet(report: dict[str, Any], budget: float) -> None:
    print(f"\n{report['bots']} bots x {report['pairs']} pairs on an empty store "
          f"({report['seconds']:g} s, polls every {report['every_s']:g} s)")  # fmt: skip
    print(f"every bot's first exact answer after: {report['first_exact_answer_s']} s "
          f"(p50 {report['first_exact_answer_p50_s']} s; the market list after "
          f"{report['market_list_s']} s; {report['bots_without_a_first_exact_answer']} bots "
          "without one)")  # fmt: skip
    print(f"every bot's every pair (paced by each bot's own ccxt throttle): "
          f"{report['every_pair_exact_s']} s")  # fmt: skip
    rows = [[host, minute, used, budget, "over" if used > budget else "ok"]
            for host, minutes in report["weight_per_minute"].items()
            for minute, used in minutes.items()]  # fmt: skip
    print_table(rows, ["host", "minute", "weight used", "budget", ""])
    print(f"spent by: {report['weight_spent_by_caller']}")
    answered = report["venue_answered"]
    outcomes = report["client_outcomes"]
    print(f"the venue answered 429: {answered.get('429', 0)}, 418: {answered.get('418', 0)}; "
          f"clients saw 429: {outcomes.get('429', 0)}, timeouts: {outcomes.get('timeout', 0)}, "
          f"inexact: {outcomes.get('inexact', 0)}, all: {outcomes}")  # fmt: skip


def main(bots: int, pairs: int, trades: int, every: float, seconds: float) -> None:
    report = fleet(bots, pairs, trades, every, seconds)
    print_fleet(report, budget=1_000.0)
    print(f"\nwrote {write_report('fleet', report)}")
