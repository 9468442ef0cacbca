"""Real `freqtrade trade --dry-run` bots reading through the facades: two Binance bots on the
same pairs and one Bybit futures bot (and, apart, an OKX swap bot), each with the repository's own config
(`user_data/config.*.json`, only its host and port changed) and its tiny strategy
(`user_data/strategies/FacadeProbe.py`, which enters at every new candle), for a few
minutes of real time against the local exchanges running at real speed.

They reach RUNNING, trade at every candle of every pair (so they saw each candle on time),
log no error and no outdated history, while the local exchanges are asked for a handful of
klines: the bots' polls are served from the store.

The same bots run their REST API, and the server reads them back for the chart
(`TRADE_CANVAS_BOTS`): their trades at the candles they traded in, their strategy's
indicator equal to what the stored candles give, one poll per bot however many ask; and
beside them a bot with a wrong password, one that is not there and one that never answers,
each said as such while the candles are served as fast as ever."""

from __future__ import annotations

import asyncio
import calendar
import json
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.supply.fill import PUBLISH_LAG_S, RECHECK_S
from local_exchange.exchange import FakeExchange
from local_exchange.server import FakeBinance, FakeBybit, FakeOkx
from tests.conftest import SettingsFactory
from tests.support import free_port, live_server, poll

pytestmark = pytest.mark.bots  # runs real freqtrade bots

REPO = Path(__file__).resolve().parents[3]
USER_DATA = REPO / "user_data"
BOT_TIMEOUT_S = 5.0
RUN_S = 200  # three candle boundaries at least, after each bot's start
WARM_S = 60
KLINE_PATHS = ("/api/v3/klines", "/fapi/v1/klines", "/v5/market/kline")
# What a futures bot reads to charge funding fees (dry-run: at every exit).
FUNDING_PATHS = ("/v5/market/mark-price-kline", "/v5/market/funding/history")


def bot_config(
    name: str, server_url: str, tmp: Path, *, ws: bool = True, api_port: int | None = None
) -> Path:
    """The repository's config `name`, pointed at the server under test; `ws` False: the
    bot polls klines over REST instead of following the facade's kline stream; `api_port`:
    its REST API on that port, the password `password_of(api_port)`."""
    text = (USER_DATA / f"config.{name}.json").read_text()
    config: dict[str, Any] = json.loads(
        text.replace("http://127.0.0.1:8000", server_url).replace(
            "ws://127.0.0.1:8000", server_url.replace("http://", "ws://")
        )
    )
    config["exchange"]["enable_ws"] = ws
    if api_port is not None:
        config["api_server"] = {
            "enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": api_port,
            "verbosity": "error", "enable_openapi": False, "jwt_secret_key": "a-test-jwt-secret-of-32-characters",
            "ws_token": "a-test-ws-token-of-some-length", "CORS_origins": [], "username": "freqtrader",
            "password": password_of(api_port),
        }  # fmt: skip
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


def password_of(port: int) -> str:
    return f"secret-{port}-pw"


def trade_rows(workdir: Path) -> list[dict[str, Any]]:
    """The bot's own record of its trades (its SQLite database)."""
    conn = sqlite3.connect(workdir / "trades.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT id, pair, is_open, open_date, close_date FROM trades")
        return [dict(row) for row in rows.fetchall()]
    finally:
        conn.close()


def epoch(stamp: str | None) -> float | None:
    if stamp is None:
        return None
    whole, _, fraction = stamp.partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%d %H:%M:%S")) + float(f"0.{fraction or 0}")


def kline_requests(*fakes: FakeBinance | FakeBybit) -> int:
    return sum(
        fake.exchange.rest_requests_by_path.get(path, 0) for fake in fakes for path in KLINE_PATHS
    )


async def test_dry_run_bots_trade_every_candle_through_the_facades(
    make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    binance = FakeBinance(FakeExchange(history_days=2)).start()
    bybit = FakeBybit(FakeExchange(history_days=2, seed=2)).start()
    # Two on Binance's facade (one following its kline stream, one polling its REST), one
    # on Bybit's stream.
    bots = [("binance-spot", "a", True), ("binance-spot", "b", False), ("bybit-futures", "c", True)]
    ports = {tag: free_port() for _, tag, _ in bots}
    hung = await asyncio.start_server(_never_answer, "127.0.0.1", 0)
    hung_port = hung.sockets[0].getsockname()[1]
    configured = [
        {"name": tag, "url": f"http://127.0.0.1:{port}", "username": "freqtrader",
         "password": password_of(port)}
        for tag, port in ports.items()
    ] + [
        {"name": "wrong-password", "url": f"http://127.0.0.1:{ports['a']}",
         "username": "freqtrader", "password": "not-it"},
        {"name": "gone", "url": f"http://127.0.0.1:{free_port()}"},
        {"name": "hung", "url": f"http://127.0.0.1:{hung_port}"},
    ]  # fmt: skip
    settings = make_settings(
        live_ingest=True, **binance.settings(), **bybit.settings(), ondemand_idle_ttl_s=120,
        bots=json.dumps(configured), bot_timeout_s=BOT_TIMEOUT_S,
    )  # fmt: skip
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with live_server(settings) as s:
            try:
                for name, tag, ws in bots:
                    config = bot_config(name, s.base_url, tmp_path, ws=ws, api_port=ports[tag])
                    procs.append(await start_bot(config, tmp_path / tag))
                await poll(
                    lambda: _all_running(procs, [tmp_path / tag for _, tag, _ in bots]),
                    "every bot to reach RUNNING", timeout=120, every=0.5,
                )  # fmt: skip
                started = time.time()
                # Once each bot has its history and its series are live, its polls cost
                # the exchanges nothing: counted from the first minute on.
                await poll(lambda: time.time() - started > WARM_S, "warming up", WARM_S + 10, 1.0)
                asked_warm = kline_requests(binance, bybit)
                served_warm = await _facade_kline_requests(s.http)
                funding_warm = _asked(bybit, FUNDING_PATHS)
                warm_at = time.time()
                funding_served_warm = await _facade_funding_requests(s.http)
                await poll(lambda: time.time() - started > RUN_S, "the run", RUN_S + 10, 1.0)
                asked = kline_requests(binance, bybit) - asked_warm
                served = await _facade_kline_requests(s.http) - served_warm
                funding_asked = _asked(bybit, FUNDING_PATHS) - funding_warm
                ended_at = time.time()
                funding_served = await _facade_funding_requests(s.http) - funding_served_warm
                streamed = await _metric_sum(s.http, "trade_canvas_facade_stream_frames_total{")
                await _check_bots_on_the_chart(s.http, tmp_path)
            finally:
                # Before the server goes: a bot losing its server would rightly log errors.
                await asyncio.gather(*(stop_bot(p) for p in procs))
    finally:
        hung.close()
        binance.stop()
        bybit.stop()
    for port in ports.values():  # the passwords reach the bots and nowhere else
        assert password_of(port) not in caplog.text
    minutes_run = RUN_S // 60
    for _, tag, _ in bots:
        log = (tmp_path / tag / "bot.log").read_text()
        assert not _error_records(log), _errors(log)
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
    # The futures bot's funding fees: its mark prices and funding rates from the store, the
    # exchange asked once per contract and kind for each hour that turned meanwhile.
    assert funding_served >= 2 * warm_minutes, funding_served
    assert funding_asked <= 2 + _hourly_asks(warm_at, ended_at), (
        funding_asked, funding_served,
    )  # fmt: skip


# What an OKX swap bot reads of the exchange: candles, and for its funding fees the
# swap's mark price candles and funding rates.
OKX_CANDLES = ("/api/v5/market/candles", "/api/v5/market/history-candles")
OKX_FUNDING = (
    "/api/v5/market/mark-price-candles", "/api/v5/market/history-mark-price-candles",
    "/api/v5/public/funding-rate-history",
)  # fmt: skip


async def test_an_okx_swap_bot_trades_every_candle_from_the_store(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """`user_data/config.okx-futures.json` as it is (its host changed): a real OKX swap
    dry-run bot on the facade's business stream trades at every candle of both pairs,
    logs no error, and after warming up its candle, mark price and funding reads are
    answered from the store (issue 36), OKX asked a handful of times at most."""
    okx = FakeOkx(FakeExchange(history_days=2, seed=3)).start()
    settings = make_settings(live_ingest=True, **okx.settings(), ondemand_idle_ttl_s=120)
    workdir = tmp_path / "okx"
    try:
        async with live_server(settings) as s:
            proc = await start_bot(bot_config("okx-futures", s.base_url, tmp_path), workdir)
            try:
                await poll(lambda: _all_running([proc], [workdir]), "the bot to reach RUNNING",
                           timeout=120, every=0.5)  # fmt: skip
                started = time.time()
                await poll(lambda: time.time() - started > WARM_S, "warming up", WARM_S + 10, 1.0)
                candles_warm = _asked(okx, OKX_CANDLES)
                funding_warm = _asked(okx, OKX_FUNDING)
                warm_at = time.time()
                paths_warm = dict(okx.exchange.rest_requests_by_path)
                served_warm = await _facade_requests(s.http, OKX_FUNDING)
                await poll(lambda: time.time() - started > RUN_S, "the run", RUN_S + 10, 1.0)
                candles_asked = _asked(okx, OKX_CANDLES) - candles_warm
                funding_asked = _asked(okx, OKX_FUNDING) - funding_warm
                ended_at = time.time()
                served = await _facade_requests(s.http, OKX_FUNDING) - served_warm
                paths = {p: n - paths_warm.get(p, 0)
                         for p, n in okx.exchange.rest_requests_by_path.items()}  # fmt: skip
            finally:
                await stop_bot(proc)
    finally:
        okx.stop()
    log = (workdir / "bot.log").read_text()
    assert not _error_records(log), _errors(log)
    opened = entries(workdir)
    assert len(opened) == 2, opened
    for pair, minutes in opened.items():
        assert len(minutes) >= RUN_S // 60, (pair, sorted(minutes))
    warm_minutes = (RUN_S - WARM_S) // 60
    assert served >= 2 * warm_minutes, served
    asked = {p: n for p, n in paths.items() if n}
    assert funding_asked <= 3 + _hourly_asks(warm_at, ended_at), (
        funding_asked, served, asked,
    )  # fmt: skip
    assert candles_asked <= 4, (candles_asked, asked)


def _hourly_asks(start: float, end: float) -> int:
    """The most the exchange is asked for the hours that turn between `start` and `end`
    (real time, the local exchanges' too), for each of the two contracts: its new hourly
    mark price once, and its funding once and then again every `RECHECK_S` during the
    hour's first `PUBLISH_LAG_S` when its next event is due that hour (an event not
    published yet is looked for again)."""
    per_contract = 1 + 1 + int(PUBLISH_LAG_S / RECHECK_S)
    return 2 * per_contract * (int(end) // 3_600 - int(start) // 3_600)


def _all_running(procs: list[asyncio.subprocess.Process], workdirs: list[Path]) -> bool:
    for proc, workdir in zip(procs, workdirs, strict=True):
        assert proc.returncode is None, _errors((workdir / "bot.log").read_text())
    return all(_running(workdir) for workdir in workdirs)


def _running(workdir: Path) -> bool:
    log = workdir / "bot.log"
    return log.exists() and "Changing state to: RUNNING" in log.read_text()


_RECORD = re.compile(r"^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - )", re.MULTILINE)


def _error_records(log: str) -> list[str]:
    """The bot's errors, less those of freqtrade's daily reset of its exchange streams (at
    00:02 it closes their connections, and then ccxt.pro's unsubscribe from each fails
    on the closed one, logged as an error): freqtrade's own, at a time a run can cover."""
    records = [" ".join(r.split()) for r in _RECORD.split(log)]  # its console wraps lines
    reset = any("Resetting exchange WS connections" in r for r in records)
    return [r for r in records if " - ERROR - " in r and not (reset and "_unwatch_ohlcv" in r)]


def _errors(log: str) -> str:
    return "\n".join(
        line for line in log.splitlines() if " - ERROR - " in line or "Outdated" in line
    )[-3000:]


async def _facade_kline_requests(http: Any) -> float:
    return await _metric_sum(http, "trade_canvas_facade_requests_total{", "kline")


async def _facade_funding_requests(http: Any) -> float:
    return await _facade_requests(http, FUNDING_PATHS)


async def _facade_requests(http: Any, paths: tuple[str, ...]) -> float:
    return sum([await _metric_sum(http, "trade_canvas_facade_requests_total{", path)
                for path in paths])  # fmt: skip


def _asked(fake: FakeBybit | FakeOkx, paths: tuple[str, ...]) -> int:
    return sum(fake.exchange.rest_requests_by_path.get(path, 0) for path in paths)


async def _metric_sum(http: Any, prefix: str, contains: str = "") -> float:
    text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and contains in line
    )


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A bot that accepts the connection and then hangs."""
    await reader.read()
    writer.close()


async def _check_bots_on_the_chart(http: Any, tmp: Path) -> None:
    series = "binance:spot:BTC/USDT:1m"
    # A hung bot takes the whole timeout to be called down; the candles do not wait for it.
    listing = asyncio.create_task(http.get("/api/bots"))
    candles = await http.get("/api/market/candles", params={"series_id": series, "limit": 500})
    assert candles.status_code == 200
    assert not listing.done(), "the candles waited for the bots"
    body = (await listing).json()
    assert "secret-" not in json.dumps(body)
    by_name = {b["name"]: b for b in body["bots"]}
    for tag, exchange, market in (("a", "binance", "spot"), ("b", "binance", "spot"),
                                  ("c", "bybit", "futures")):  # fmt: skip
        assert by_name[tag]["state"] == "ok", by_name[tag]
        assert (by_name[tag]["exchange"], by_name[tag]["market"]) == (exchange, market)
        assert by_name[tag]["strategy"] == "FacadeProbe"
        assert by_name[tag]["closed_trades"] > 0, by_name[tag]
    assert by_name["wrong-password"]["state"] == "unauthorized"
    assert by_name["wrong-password"]["strategy"] is None  # it told us nothing
    assert by_name["gone"]["state"] == "down"
    assert by_name["gone"]["reason"] == "connection refused"
    assert by_name["hung"]["state"] == "down"
    assert by_name["hung"]["reason"] == f"no answer within {BOT_TIMEOUT_S:g} s"

    overlay = (await http.get("/api/bots/a/overlay", params={"series_id": series})).json()
    assert overlay["state"] == "ok" and overlay["note"] is None, overlay
    checked_at = overlay["checked_at"]
    # Every trade of BTC/USDT the bot recorded, at the candle it opened (and closed) in.
    recorded = {row["id"]: row for row in trade_rows(tmp / "a") if row["pair"] == "BTC/USDT"}
    shown = {t["trade_id"]: t for t in overlay["trades"]}
    for trade_id, row in recorded.items():
        closed_at = epoch(row["close_date"])
        if epoch(row["open_date"]) > checked_at - 2 or (closed_at and closed_at > checked_at - 2):
            continue  # opened or closed while the server was reading the bot
        assert trade_id in shown, (trade_id, sorted(shown))
        trade = shown[trade_id]
        assert trade["entry_candle"] == int(epoch(row["open_date"]) // 60 * 60)
        assert trade["side"] == "long"
        if closed_at is not None:
            assert trade["exit_candle"] == int(closed_at // 60 * 60)
            assert trade["exit_reason"] == "roi" and trade["profit_ratio"] is not None
    assert set(shown) <= set(recorded)
    assert len(shown) >= 2
    # The strategy's plot_config indicator: the mean of the 10 stored closes up to each candle.
    # And its subplot's momentum: the close less the close 5 candles before.
    sma, momentum = overlay["indicators"]
    assert (sma["column"], sma["pane"], sma["color"]) == ("sma_10", "main", "#1f77b4")
    momentum_spec = (momentum["column"], momentum["pane"], momentum["color"])
    assert momentum_spec == ("momentum_5", "Momentum", "#ff7f0e")
    closes = {c["candle_time"]: c["close"] for c in candles.json()["candles"]}
    compared = 0
    for t, value in sma["points"]:
        window = [closes.get(t - 60 * i) for i in range(10)]
        if None not in window:
            assert abs(value - sum(window) / 10) <= 1e-9 * value, (t, value)  # type: ignore[arg-type]
            compared += 1
    assert compared >= 100, compared
    compared = 0
    for t, value in momentum["points"]:
        now, before = closes.get(t), closes.get(t - 300)
        if now is not None and before is not None:
            assert abs(value - (now - before)) <= 1e-9 * now, (t, value)
            compared += 1
    assert compared >= 100, compared

    # On a 5m chart: the same trades at 5m candles, and no 1m indicator.
    five = (await http.get("/api/bots/a/overlay", params={"series_id": series[:-2] + "5m"})).json()
    assert five["indicators"] == [] and "runs on 1m" in five["note"]
    assert all(t["entry_candle"] % 300 == 0 for t in five["trades"])
    # A bot of another venue says so on this chart and draws nothing.
    other = (await http.get("/api/bots/c/overlay", params={"series_id": series})).json()
    assert other["note"] == "trades on bybit futures, not binance spot" and other["trades"] == []
    down = (await http.get("/api/bots/gone/overlay", params={"series_id": series})).json()
    assert (down["state"], down["trades"]) == ("down", [])
    assert (
        await http.get("/api/bots/nobody/overlay", params={"series_id": series})
    ).status_code == 404

    # However many charts ask at once, the bot is asked once per poll.
    before = await _metric_sum(
        http, 'trade_canvas_bot_requests_total{bot="b",endpoint="show_config"'
    )
    answers = await asyncio.gather(
        *(http.get("/api/bots/b/overlay", params={"series_id": series}) for _ in range(20))
    )
    assert all(a.status_code == 200 for a in answers)
    after = await _metric_sum(
        http, 'trade_canvas_bot_requests_total{bot="b",endpoint="show_config"'
    )
    assert after - before <= 1, (before, after)
