"""The real `freqtrade download-data`, pointed at the local fake Binance."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.history.datadir import Datadirs
from app.history.download import DownloadManager, DownloadMetrics, DownloadOptions
from app.metrics import Metrics
from app.series import parse_series_id
from tests.conftest import FakeRest, SettingsFactory
from tests.support import LiveServer, live_server, metric_value, poll


def download_settings(
    make_settings: SettingsFactory, fake: FakeRest, datadir: Path, **kw: Any
) -> Any:
    values: dict[str, Any] = {
        "market_history_source": "freqtrade",
        "freqtrade_datadir": datadir,
        "history_download": True,
        "history_download_days": 1,
        "history_download_cooldown_s": 120,
        "history_wait_s": 120,
        "history_recheck_s": 0,
        "binance_spot_rest_url": fake.url,
        "binance_futures_rest_url": fake.url,
    }
    values.update(kw)
    return make_settings(**values)


def exchange_closed_candles(fake: FakeRest, market: str, symbol: str, tf: str) -> list:
    rows = fake.exchange.klines(market, {"symbol": symbol, "interval": tf, "limit": "1000"})  # type: ignore[arg-type]
    now_ms = fake.exchange.clock.now_ms()
    return [
        (r[0] // 1000, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
        for r in rows
        if r[6] < now_ms  # type: ignore[operator]
    ]


async def served(s: LiveServer, series_id: str) -> list:
    r = await s.http.get("/api/market/candles", params={"series_id": series_id, "limit": 5000})
    assert r.status_code == 200, r.text
    return [
        (c["candle_time"], c["open"], c["high"], c["low"], c["close"], c["volume"])
        for c in r.json()["candles"]
    ]


async def test_missing_spot_series_is_downloaded_once_and_served(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    sid = "binance:spot:BTC/USDT:1h"
    async with live_server(download_settings(make_settings, fake_binance, tmp_path)) as s:
        results = await asyncio.gather(*(served(s, sid) for _ in range(30)))
        assert (tmp_path / "BTC_USDT-1h.feather").exists()  # written by freqtrade itself
        got = results[0]
        assert len(got) >= 23
        expected = exchange_closed_candles(fake_binance, "spot", "BTCUSDT", "1h")
        assert got == [c for c in expected if c[0] >= got[0][0]]
        assert all(r == got for r in results)
        text = (await s.http.get("/metrics")).text
        assert 'trade_canvas_history_downloads_total{result="ok"} 1.0' in text


async def test_futures_series_is_downloaded_in_futures_mode(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    sid = "binance:futures:ETH/USDT:USDT:1h"
    async with live_server(download_settings(make_settings, fake_binance, tmp_path)) as s:
        got = await served(s, sid)
        assert (tmp_path / "futures" / "ETH_USDT_USDT-1h-futures.feather").exists()
        expected = exchange_closed_candles(fake_binance, "futures", "ETHUSDT", "1h")
        assert len(got) >= 23 and got == [c for c in expected if c[0] >= got[0][0]]


async def test_a_failed_download_is_not_run_again_within_the_cooldown(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-config.json"
    broken.write_text("{ this is not json")
    settings = download_settings(
        make_settings, fake_binance, tmp_path / "data", history_download_config=broken
    )
    sid = "binance:spot:BNB/USDT:1h"
    async with live_server(settings) as s:
        for _ in range(3):
            await asyncio.gather(*(served(s, sid) for _ in range(10)))  # 30 requests
        assert await metric_value(s, "trade_canvas_history_downloads_total") == 1
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        download = debug["downloads"][sid]
        assert download["runs"] == 1 and download["running"] is False
        assert download["next_allowed_at"] > time.time() + 60


async def test_a_failing_download_is_reported_not_raised(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-config.json"
    broken.write_text("{ this is not json")
    settings = download_settings(
        make_settings, fake_binance, tmp_path / "data", history_download_config=broken
    )
    sid = "binance:spot:ETH/USDT:1h"
    async with live_server(settings) as s:
        assert await served(s, sid) == []
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert debug["downloads"][sid]["last_result"] == "failed"
        assert "Configuration error" in debug["downloads"][sid]["last_error"]
        text = (await s.http.get("/metrics")).text
        assert 'trade_canvas_history_downloads_total{result="failed"} 1.0' in text


def manager_running(
    datadir: Path, metrics: Metrics, timeout_s: float, script: str, *args: str
) -> DownloadManager:
    """A DownloadManager with one slot whose "freqtrade" is the Python `script`."""
    return DownloadManager(
        DownloadOptions(
            datadirs=Datadirs(datadir),
            days=1,
            data_format="feather",
            timeout_s=timeout_s,
            cooldown_s=0,
            max_concurrent=1,
            config=None,
            custom_api_urls={},
            freqtrade_command=(sys.executable, "-c", script, *args),
        ),
        DownloadMetrics(metrics),
    )


async def test_a_hanging_download_is_killed_at_its_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    hang = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    manager = manager_running(tmp_path, Metrics(), 1.0, hang, str(pid_file))
    started = time.monotonic()
    result = await manager.request(parse_series_id("binance:spot:BTC/USDT:1m"))
    assert result == "timeout"
    assert time.monotonic() - started < 30
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await poll(gone, "the hung download process to be killed")
    state = manager.state()["binance:spot:BTC/USDT:1m"]
    assert state["last_result"] == "timeout" and "did not finish" in state["last_error"]


async def test_the_ccxt_source_pages_rest_klines_into_the_store(
    make_settings: SettingsFactory, fake_binance: FakeRest
) -> None:
    settings = make_settings(
        market_history_source="ccxt",
        history_download_days=2,
        history_recheck_s=0,
        binance_spot_rest_url=fake_binance.url,
        binance_futures_rest_url=fake_binance.url,
    )
    sid = "binance:spot:SOL/USDT:5m"
    async with live_server(settings) as s:
        got = await served(s, sid)
        assert len(got) >= 500  # two days of 5m candles, over several REST pages of 500
        expected = exchange_closed_candles(fake_binance, "spot", "SOLUSDT", "5m")
        tail = [c for c in expected if c[0] >= got[0][0]]
        assert tail[: len(got)] == got  # the exchange may have closed one more since
        times = [c[0] for c in got]
        assert times == list(range(times[0], times[-1] + 300, 300))
        r = await s.http.get(
            "/api/market/candles", params={"series_id": "binance:spot:NOPE/USDT:5m"}
        )
        assert r.status_code == 404 and r.json()["error_code"] == "unknown_symbol"
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert "binance:spot:NOPE/USDT:5m" not in debug["history"]


async def test_downloads_waiting_for_a_slot_are_bounded(tmp_path: Path) -> None:
    hang = "import time; time.sleep(600)"
    metrics = Metrics()
    manager = manager_running(tmp_path, metrics, 600, hang)
    series = [
        parse_series_id(f"binance:spot:BTC/USDT:{tf}")
        for tf in ("1m", "3m", "5m", "15m", "30m", "1h")
    ]
    waiting = [asyncio.create_task(manager.request(s)) for s in series[:5]]
    await poll(lambda: sum(s["running"] for s in manager.state().values()) == 5, "5 started")
    try:
        # One runs, four wait for its slot; the sixth is turned away at once.
        assert await asyncio.wait_for(manager.request(series[5]), 5) is None
        skipped = metrics.registry.get_sample_value(
            "trade_canvas_history_download_requests_skipped_total", {"why": "queue_full"}
        )
        assert skipped == 1
        assert str(series[5]) not in manager.state()
    finally:
        await manager.stop()
        await asyncio.gather(*waiting, return_exceptions=True)


async def test_bybit_series_are_downloaded_into_bybits_own_datadir(
    make_settings: SettingsFactory, fake_bybit: FakeRest, tmp_path: Path
) -> None:
    """`freqtrade download-data --exchange bybit` for real, against the local Bybit's v5
    REST; the files land in Bybit's datadir (futures under `futures/`), beside Binance's,
    and the served candles are the exchange's."""
    binance_dir = tmp_path / "data" / "binance"
    settings = download_settings(
        make_settings, fake_bybit, binance_dir, bybit_rest_url=fake_bybit.url
    )
    async with live_server(settings) as s:
        for sid, market, path in (
            ("bybit:spot:BTC/USDT:1h", "spot", "BTC_USDT-1h.feather"),
            (
                "bybit:futures:ETH/USDT:USDT:1h",
                "futures",
                "futures/ETH_USDT_USDT-1h-futures.feather",
            ),
        ):
            got = await served(s, sid)
            assert (tmp_path / "data" / "bybit" / path).exists()  # written by freqtrade
            assert not binance_dir.exists() or not any(binance_dir.rglob("*.feather"))
            assert len(got) >= 23
            model = fake_bybit.exchange.pair_model(market, parse_series_id(sid).symbol)  # type: ignore[arg-type]
            assert got == [
                (t, float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume))
                for t in range(got[0][0], got[-1][0] + 1, 3600)
                for k in [model.kline("1h", t)]
            ]
        listed = (await s.http.get("/api/market/series")).json()["series"]
        assert {e["series_id"] for e in listed if e.get("datadir_files")} == {
            "bybit:spot:BTC/USDT:1h", "bybit:futures:ETH/USDT:USDT:1h",
        }  # fmt: skip


@pytest.mark.parametrize(
    ("sid", "path"),
    [
        ("okx:spot:BTC/USDT:1h", "BTC_USDT-1h.feather"),
        ("okx:futures:ETH/USDT:USDT:1h", "futures/ETH_USDT_USDT-1h-futures.feather"),
    ],
)
async def test_okx_series_are_downloaded_into_okxs_own_datadir(
    make_settings: SettingsFactory, fake_okx: FakeRest, tmp_path: Path, sid: str, path: str
) -> None:
    """`freqtrade download-data --exchange okx` for real, against the local OKX's v5 REST
    (ccxt's `urls.api.rest`): the file lands in OKX's datadir and the served candles are
    the exchange's."""
    binance_dir = tmp_path / "data" / "binance"
    settings = download_settings(make_settings, fake_okx, binance_dir, okx_rest_url=fake_okx.url)
    async with live_server(settings) as s:
        got = await served(s, sid)
        assert (tmp_path / "data" / "okx" / path).exists()
        assert len(got) >= 23
        series = parse_series_id(sid)
        model = fake_okx.exchange.pair_model(series.market, series.symbol)  # type: ignore[arg-type]
        assert got == [
            (t, float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume))
            for t in range(got[0][0], got[-1][0] + 1, 3600)
            for k in [model.kline("1h", t)]
        ]


async def test_a_chart_read_before_the_history_is_in_is_told_to_come_back(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    """The chart's first read of a series being downloaded, past the wait, is a 503
    `history_pending` with Retry-After (never a 200 with what happens to be stored); once
    the download is imported, the same read is the exchange's candles."""
    settings = download_settings(make_settings, fake_binance, tmp_path, history_wait_s=0.2)
    sid = "binance:spot:SOL/USDT:1h"
    async with live_server(settings) as s:
        r = await s.http.get("/api/market/candles", params={"series_id": sid})
        assert r.status_code == 503, r.text
        assert r.json()["error_code"] == "history_pending"
        assert int(r.headers["Retry-After"]) >= 1

        async def whole() -> bool:
            answer = await s.http.get("/api/market/candles", params={"series_id": sid})
            return answer.status_code == 200 and len(answer.json()["candles"]) >= 23

        await poll(whole, "the download to be imported", timeout=120, every=0.5)
        got = await served(s, sid)
        expected = exchange_closed_candles(fake_binance, "spot", "SOLUSDT", "1h")
        assert got == [c for c in expected if c[0] >= got[0][0]]
