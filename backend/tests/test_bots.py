"""Real `freqtrade trade --dry-run` bots reading through the facades: two Binance bots on the
same pairs and one Bybit futures bot, each with the repository's own config
(`user_data/config.*.json`, only its host and port changed) and its tiny strategy
(`user_data/strategies/FacadeProbe.py`, which enters at every new candle), for a few
minutes of real time against the local exchanges running at real speed.

They reach RUNNING, trade at every candle of every pair (so they saw each candle on time),
log no error and no outdated history, while the local exchanges are asked for a handful of
klines: the bots' polls are served from the store."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from app.fake_exchange.exchange import FakeExchange
from app.fake_exchange.server import FakeBinance, FakeBybit
from tests.conftest import SettingsFactory
from tests.support import live_server, poll

REPO = Path(__file__).resolve().parents[2]
USER_DATA = REPO / "user_data"
RUN_S = 200  # three candle boundaries at least, after each bot's start
WARM_S = 60
KLINE_PATHS = ("/api/v3/klines", "/fapi/v1/klines", "/v5/market/kline")


def bot_config(name: str, server_url: str, tmp: Path, *, ws: bool = True) -> Path:
    """The repository's config `name`, pointed at the server under test; `ws` False: the
    bot polls klines over REST instead of following the facade's kline stream."""
    text = (USER_DATA / f"config.{name}.json").read_text()
    config: dict[str, Any] = json.loads(
        text.replace("http://127.0.0.1:8000", server_url).replace(
            "ws://127.0.0.1:8000", server_url.replace("http://", "ws://")
        )
    )
    config["exchange"]["enable_ws"] = ws
    path = tmp / f"config.{name}.{len(list(tmp.glob('config.*')))}.json"
    path.write_text(json.dumps(config))
    return path


async def start_bot(config: Path, workdir: Path) -> asyncio.subprocess.Process:
    (workdir / "user_data").mkdir(parents=True)
    output = (workdir / "bot.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "freqtrade", "trade", "--config", str(config),
        "--userdir", str(workdir / "user_data"),
        "--strategy-path", str(USER_DATA / "strategies"),
        "--db-url", f"sqlite:///{workdir / 'trades.sqlite'}",
        stdout=output, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def stop_bot(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def entries(workdir: Path) -> dict[str, set[int]]:
    """Per pair, the minutes in which the bot opened a trade."""
    conn = sqlite3.connect(workdir / "trades.sqlite")
    try:
        rows = conn.execute("SELECT pair, open_date FROM trades").fetchall()
    finally:
        conn.close()
    minutes: dict[str, set[int]] = {}
    for pair, opened in rows:
        stamp = time.mktime(time.strptime(opened[:19], "%Y-%m-%d %H:%M:%S"))
        minutes.setdefault(pair, set()).add(int(stamp) // 60)
    return minutes


def kline_requests(*fakes: FakeBinance | FakeBybit) -> int:
    return sum(
        fake.exchange.rest_requests_by_path.get(path, 0) for fake in fakes for path in KLINE_PATHS
    )


async def test_dry_run_bots_trade_every_candle_through_the_facades(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    binance = FakeBinance(FakeExchange(history_days=2)).start()
    bybit = FakeBybit(FakeExchange(history_days=2, seed=2)).start()
    settings = make_settings(
        live_ingest=True, **binance.settings(), **bybit.settings(), ondemand_idle_ttl_s=120
    )
    # Two on Binance's facade (one following its kline stream, one polling its REST), one
    # on Bybit's stream.
    bots = [("binance-spot", "a", True), ("binance-spot", "b", False), ("bybit-futures", "c", True)]
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with live_server(settings) as s:
            try:
                for name, tag, ws in bots:
                    config = bot_config(name, s.base_url, tmp_path, ws=ws)
                    procs.append(await start_bot(config, tmp_path / tag))
                await poll(
                    lambda: all(_running(tmp_path / tag) for _, tag, _ in bots),
                    "every bot to reach RUNNING", timeout=120, every=0.5,
                )  # fmt: skip
                started = time.time()
                # Once each bot has its history and its series are live, its polls cost
                # the exchanges nothing: counted from the first minute on.
                await poll(lambda: time.time() - started > WARM_S, "warming up", WARM_S + 10, 1.0)
                asked_warm = kline_requests(binance, bybit)
                served_warm = await _facade_kline_requests(s.http)
                await poll(lambda: time.time() - started > RUN_S, "the run", RUN_S + 10, 1.0)
                asked = kline_requests(binance, bybit) - asked_warm
                served = await _facade_kline_requests(s.http) - served_warm
                streamed = await _metric_sum(s.http, "trade_canvas_facade_stream_frames_total{")
            finally:
                # Before the server goes: a bot losing its server would rightly log errors.
                await asyncio.gather(*(stop_bot(p) for p in procs))
    finally:
        binance.stop()
        bybit.stop()
    minutes_run = RUN_S // 60
    for _, tag, _ in bots:
        log = (tmp_path / tag / "bot.log").read_text()
        assert " - ERROR - " not in log, _errors(log)
        assert "Outdated history" not in log, _errors(log)
        opened = entries(tmp_path / tag)
        assert len(opened) == 2, opened  # both pairs
        for pair, minutes in opened.items():
            # A trade in (nearly) every minute: each candle was seen when it opened.
            assert len(minutes) >= minutes_run, (tag, pair, sorted(minutes))
    # Four series read by three bots at every candle: after warming up, the exchanges were
    # asked for a handful of klines at most, not one per bot, pair and candle; the polling
    # bot was served from the store.
    warm_minutes = (RUN_S - WARM_S) // 60
    assert served >= 2 * warm_minutes, served
    assert streamed >= 3 * 2 * warm_minutes, streamed  # the stream bots' closes at least
    assert asked <= 4, (asked, served)


def _running(workdir: Path) -> bool:
    log = workdir / "bot.log"
    return log.exists() and "Changing state to: RUNNING" in log.read_text()


def _errors(log: str) -> str:
    return "\n".join(
        line for line in log.splitlines() if " - ERROR - " in line or "Outdated" in line
    )[-3000:]


async def _facade_kline_requests(http: Any) -> float:
    return await _metric_sum(http, "trade_canvas_facade_requests_total{", "kline")


async def _metric_sum(http: Any, prefix: str, contains: str = "") -> float:
    text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and contains in line
    )
