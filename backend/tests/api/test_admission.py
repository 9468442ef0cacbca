"""Made-up series ids cost nothing: they are checked against the exchange's market list
before any download, import or live job, and each client has a budget of requests that
start work."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.conftest import FakeRest, SettingsFactory
from tests.freqtrade_support import store_with_freqtrade
from tests.history.test_history_download import download_settings
from tests.support import SERIES, T0, candle, live_server, metric_value, recv_json, send_json


async def test_junk_series_ids_start_nothing_and_are_not_listed(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    junk = [f"binance:spot:JUNK{i}/USDT:1h" for i in range(30)]
    async with live_server(download_settings(make_settings, fake_binance, tmp_path)) as s:
        started = time.monotonic()
        replies = await asyncio.gather(
            *(s.http.get("/api/market/candles", params={"series_id": sid}) for sid in junk)
        )
        junk_s = time.monotonic() - started
        for r in replies:
            assert r.status_code == 404, r.text
            assert r.json()["error_code"] == "unknown_symbol"
        assert await metric_value(s, "trade_canvas_history_downloads_total") == 0
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert debug["downloads"] == {} and debug["jobs"] == []
        listed = {e["series_id"] for e in (await s.http.get("/api/market/series")).json()["series"]}
        assert not listed & set(junk)
        # A real first request right after them is not kept waiting by them: it runs one
        # real download, which alone takes longer than all thirty of them (the server waits
        # for it up to HISTORY_WAIT_S, so the client does too).
        started = time.monotonic()
        r = await s.http.get(
            "/api/market/candles", params={"series_id": "binance:spot:BTC/USDT:1h"}, timeout=120
        )
        real_s = time.monotonic() - started
        assert r.status_code == 200 and len(r.json()["candles"]) >= 23
        assert junk_s < real_s, f"30 junk requests took {junk_s:.1f}s, one download {real_s:.1f}s"


async def test_a_junk_subscribe_gets_unknown_symbol_and_no_job(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    settings = download_settings(make_settings, fake_binance, tmp_path, live_ingest=True)
    async with live_server(settings) as s, s.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": "binance:futures:NOPE/USDT:USDT:1m"})
        msg = await recv_json(ws)
        assert msg["type"] == "error" and msg["code"] == "unknown_symbol", msg
        assert msg["series_id"] == "binance:futures:NOPE/USDT:USDT:1m"
        await send_json(ws, {"type": "ping"})
        assert await recv_json(ws) == {"type": "pong"}  # nothing else was queued
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert debug["jobs"] == [] and debug["downloads"] == {}


async def test_each_client_has_a_budget_of_work_starting_requests(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    # Downloads off: a listed series without a file starts an (empty) import, quickly.
    settings = download_settings(
        make_settings,
        fake_binance,
        tmp_path,
        history_download=False,
        work_requests_burst=3,
        work_requests_per_min=1,
    )
    async with live_server(settings) as s:
        assert (await s.ingest(SERIES, candle(T0))).status_code == 200
        fresh = [f"binance:spot:{b}/USDT:5m" for b in ("ETH", "SOL", "XRP", "ADA")]
        codes = []
        for sid in fresh:
            r = await s.http.get("/api/market/candles", params={"series_id": sid})
            codes.append(r.status_code)
        assert codes == [200, 200, 200, 429]
        assert r.json()["error_code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        # Stored series cost nothing: the client is still served them.
        for _ in range(10):
            r = await s.http.get("/api/market/candles", params={"series_id": SERIES})
            assert r.status_code == 200 and len(r.json()["candles"]) == 1
        # Over WebSocket the same budget applies.
        async with s.ws() as ws:
            await send_json(ws, {"type": "subscribe", "series_id": "binance:spot:BNB/USDT:5m"})
            msg = await recv_json(ws)
            assert msg["type"] == "error" and msg["code"] == "rate_limited", msg


async def test_made_up_ids_start_nothing_while_the_market_list_is_down(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    """Fail closed: with the venue's REST unreachable, a series that is neither stored,
    whitelisted nor in the datadir gets 503 `market_list_unavailable` with Retry-After; no
    download runs and nothing is listed. What is stored or in the datadir is still served."""
    hour = 1_700_002_800
    store_with_freqtrade(tmp_path, "ETH/USDT", "1h", [(hour, 1.0, 2.0, 0.5, 1.5, 3.0)], "feather")
    fake_binance.exchange.fail_rest(10**9)
    made_up = [f"binance:spot:MADE{i}/USDT:1h" for i in range(40)]
    async with live_server(download_settings(make_settings, fake_binance, tmp_path)) as s:
        assert (await s.ingest(SERIES, candle(T0))).status_code == 200
        replies = await asyncio.gather(
            *(s.http.get("/api/market/candles", params={"series_id": sid}) for sid in made_up)
        )
        for r in replies:
            assert r.status_code == 503, r.text
            assert r.json()["error_code"] == "market_list_unavailable"
            assert int(r.headers["Retry-After"]) >= 1
        async with s.ws() as ws:
            await send_json(ws, {"type": "subscribe", "series_id": made_up[0]})
            msg = await recv_json(ws)
            assert msg["type"] == "error" and msg["code"] == "market_list_unavailable", msg
        assert await metric_value(s, "trade_canvas_history_downloads_total") == 0
        # Forty requests at once asked the venue for its list once, not forty times.
        assert fake_binance.exchange.rest_requests <= 2
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert debug["downloads"] == {} and debug["jobs"] == []
        listed = {e["series_id"] for e in (await s.http.get("/api/market/series")).json()["series"]}
        assert not listed & set(made_up)
        # Stored, and in the datadir: served as ever.
        r = await s.http.get("/api/market/candles", params={"series_id": SERIES})
        assert r.status_code == 200 and len(r.json()["candles"]) == 1
        r = await s.http.get(
            "/api/market/candles", params={"series_id": "binance:spot:ETH/USDT:1h"}
        )
        assert r.status_code == 200 and [c["candle_time"] for c in r.json()["candles"]] == [hour]
