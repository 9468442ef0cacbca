"""History bootstrap through the real server: datadir files in, the API's candles out."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.candle import CandleRow
from app.history.datadir import list_datadir
from app.series import parse_series_id
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade
from tests.recorded import DATADIR, PARQUET_DATADIR
from tests.support import LiveServer, live_server, metric_value, recv_json, send_json


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return str(request.param)


T0 = 1_700_000_040


def history_settings(make_settings: SettingsFactory, datadir: Path, **kw: Any) -> Any:
    values: dict[str, Any] = {
        "market_history_source": "freqtrade",
        "freqtrade_datadir": datadir,
        "history_download": False,
        "history_recheck_s": 0,
    }
    values.update(kw)
    return make_settings(**values)


async def all_candles(server: LiveServer, series_id: str) -> list[CandleRow]:
    """Every stored candle, paged with `since` like a client catching up."""
    got: list[CandleRow] = []
    since = 0
    while True:
        r = await server.http.get(
            "/api/market/candles", params={"series_id": series_id, "since": since, "limit": 5000}
        )
        assert r.status_code == 200, r.text
        page = r.json()["candles"]
        if not page:
            return got
        got += [
            (c["candle_time"], c["open"], c["high"], c["low"], c["close"], c["volume"])
            for c in page
        ]
        since = page[-1]["candle_time"]


def rows(n: int, start: int = T0, step: int = 60) -> list[CandleRow]:
    return [
        (start + step * i, 100.0 + i, 102.5 + i, 99.25 + i, 101.0 + i, 0.5 + i % 7)
        for i in range(n)
    ]


@pytest.mark.parametrize("datadir", [DATADIR, PARQUET_DATADIR], ids=["mixed", "parquet"])
async def test_every_fixture_series_is_served_as_freqtrade_loads_it(
    make_settings: SettingsFactory, datadir: Path
) -> None:
    served = {}
    for entry in list_datadir(datadir):
        if entry.series_id and entry.series_id not in served:
            served[entry.series_id] = entry  # the listing is sorted; feather before json
    assert served
    async with live_server(history_settings(make_settings, datadir)) as s:
        for series_id, entry in served.items():
            series = parse_series_id(series_id)
            expected = freqtrade_rows(
                datadir, series.symbol, series.timeframe, entry.format, series.market
            )
            r = await s.http.get(
                "/api/market/candles", params={"series_id": series_id, "limit": 5000}
            )
            body = r.json()
            assert body["server_head_time"] == expected[-1][0], series_id
            assert await all_candles(s, series_id) == expected, series_id


@pytest.mark.parametrize("fmt", ["feather", "parquet", "json", "jsongz"])
async def test_first_request_of_2100_candles_returns_2000(
    make_settings: SettingsFactory, tmp_path: Path, fmt: str
) -> None:
    data = rows(2100)
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data, fmt)
    async with live_server(history_settings(make_settings, tmp_path)) as s:
        r = await s.http.get(
            "/api/market/candles", params={"series_id": "binance:spot:BTC/USDT:1m", "limit": 2000}
        )
        body = r.json()
        assert len(body["candles"]) == 2000
        assert body["server_head_time"] == data[-1][0] == body["candles"][-1]["candle_time"]
        assert body["candles"][0]["candle_time"] == data[100][0]
        assert await all_candles(s, "binance:spot:BTC/USDT:1m") == data


async def test_first_request_gets_a_full_page_when_the_file_is_not_whole_batches(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    # 5,760 rows in batches of 5,000: the batch imported first must be the newest 5,000,
    # not the 760-row remainder, or the chart's first page comes back short.
    data = rows(5760)
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data, "feather")
    settings = history_settings(make_settings, tmp_path, history_batch_size=5000)
    async with live_server(settings) as s:
        r = await s.http.get(
            "/api/market/candles", params={"series_id": "binance:spot:BTC/USDT:1m", "limit": 2000}
        )
        assert [c["candle_time"] for c in r.json()["candles"]] == [row[0] for row in data[-2000:]]
        assert await all_candles(s, "binance:spot:BTC/USDT:1m") == data


async def test_import_is_idempotent_and_batched(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", rows(12_000), "feather")
    settings = history_settings(make_settings, tmp_path, history_batch_size=5000)
    sid = "binance:spot:BTC/USDT:1m"
    async with live_server(settings) as s:
        await s.http.get("/api/market/candles", params={"series_id": sid})
        await poll_imported(s, sid)
        assert await metric_value(s, "trade_canvas_db_commits_total") == 3  # 12,000 / 5,000
        for _ in range(3):
            await s.http.get("/api/market/candles", params={"series_id": sid})
        assert await metric_value(s, "trade_canvas_db_commits_total") == 3
    # A restarted server finds the store complete: nothing is imported again.
    async with live_server(settings) as s:
        await s.http.get("/api/market/candles", params={"series_id": sid})
        await poll_imported(s, sid)
        assert await metric_value(s, "trade_canvas_history_rows_imported_total") == 0
        assert len(await all_candles(s, sid)) == 12_000


async def poll_imported(s: LiveServer, series_id: str) -> dict[str, Any]:
    from tests.support import poll

    state: dict[str, Any] = {}

    async def imported() -> bool:
        body = (await s.http.get("/api/market/debug/ingest_state")).json()
        state.update(body["history"].get(series_id, {}))
        return state.get("status") in ("imported", "failed", "missing")

    await poll(imported, f"{series_id} imported")
    return state


async def test_appended_and_prepended_candles_are_imported(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    sid = "binance:spot:BTC/USDT:1m"
    full = rows(2000)
    middle = full[500:1500]
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", middle, "feather")
    async with live_server(history_settings(make_settings, tmp_path)) as s:
        assert await all_candles(s, sid) == middle
        # freqtrade rewrites the whole file when it appends or prepends.
        store_with_freqtrade(tmp_path, "BTC/USDT", "1m", full, "feather")
        await s.http.get("/api/market/candles", params={"series_id": sid})
        await poll_imported(s, sid)
        assert await all_candles(s, sid) == full
        # 1,000 at first, then only the 500 older and 500 newer ones.
        assert await metric_value(s, "trade_canvas_history_rows_imported_total") == 2000


async def test_concurrent_first_requests_share_one_import(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    store_with_freqtrade(tmp_path, "ETH/USDT", "5m", rows(9000, 1_700_000_100, 300), "feather")
    sid = "binance:spot:ETH/USDT:5m"
    async with live_server(history_settings(make_settings, tmp_path, history_recheck_s=60)) as s:
        responses = await asyncio.gather(
            *(
                s.http.get("/api/market/candles", params={"series_id": sid, "limit": 1000})
                for _ in range(25)
            )
        )
        assert {len(r.json()["candles"]) for r in responses} == {1000}
        await poll_imported(s, sid)
        assert await metric_value(s, "trade_canvas_history_rows_imported_total") == 9000
        assert len(await all_candles(s, sid)) == 9000


async def test_ws_subscribe_bootstraps_before_catchup(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    data = rows(300)
    store_with_freqtrade(tmp_path, "SOL/USDT:USDT", "1m", data, "feather", market="futures")
    sid = "binance:futures:SOL/USDT:USDT:1m"
    async with live_server(history_settings(make_settings, tmp_path)) as s, s.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": sid, "since": data[-11][0]})
        msg = await recv_json(ws)
        assert msg["type"] == "catchup"
        assert [c["candle_time"] for c in msg["candles"]] == [r[0] for r in data[-10:]]
        assert msg["server_head_time"] == data[-1][0]


@pytest.mark.parametrize("appended", [5, 3000], ids=["few", "many"])
async def test_an_open_chart_follows_candles_download_data_appends_to_the_file(
    make_settings: SettingsFactory, tmp_path: Path, appended: int
) -> None:
    """Nobody asks the server again: the file grows, and the follower gets the closes (or,
    for more than a chart should receive one by one, the newest with a `gap` to re-read)."""
    data = rows(300 + appended)
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data[:300], "feather")
    sid = "binance:spot:BTC/USDT:1m"
    settings = history_settings(make_settings, tmp_path, history_follow_s=0.05)
    async with live_server(settings) as s, s.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": sid, "since": data[289][0]})
        catchup = await recv_json(ws)
        assert catchup["type"] == "catchup" and catchup["server_head_time"] == data[299][0]
        store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data, "feather")  # as download-data
        if appended == 5:
            got = [await recv_json(ws) for _ in range(appended)]
            assert [m["type"] for m in got] == ["candle_closed"] * appended
            assert [
                tuple(m["candle"][k] for k in ("candle_time", "open", "high", "low", "close",
                                               "volume"))
                for m in got
            ] == data[300:]  # fmt: skip
        else:
            gap, closed = await recv_json(ws), await recv_json(ws)
            assert gap == {"type": "gap", "series_id": sid, "expected_next_time": data[300][0],
                           "actual_time": data[-1][0]}  # fmt: skip
            assert closed["type"] == "candle_closed"
            assert closed["candle"]["candle_time"] == data[-1][0]
        assert await all_candles(s, sid) == data


async def test_a_corrupt_file_is_skipped_for_the_next_format_and_reported_once(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    data = rows(50)
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data, "json")
    (tmp_path / "BTC_USDT-1m.feather").write_bytes(b"not arrow" * 50)
    sid = "binance:spot:BTC/USDT:1m"
    async with live_server(history_settings(make_settings, tmp_path)) as s:
        for _ in range(3):
            r = await s.http.get("/api/market/candles", params={"series_id": sid})
            assert r.status_code == 200
        assert await all_candles(s, sid) == data
        state = await poll_imported(s, sid)
        assert state["format"] == "json" and "not a readable feather file" in state["last_error"]
        text = (await s.http.get("/metrics")).text
        assert 'trade_canvas_history_bad_files_total{reason="corrupt"} 1.0' in text
        listing = (await s.http.get("/api/market/series")).json()["series"]
        entry = next(e for e in listing if e["series_id"] == sid)
        assert entry["count"] == 50 and entry["history"]["status"] == "imported"


async def test_only_bad_files_leave_the_store_empty_and_say_why(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    shutil.copy(DATADIR / "UNITTEST_BTC-8m.feather", tmp_path / "BTC_USDT-1m.feather")  # 0 bytes
    sid = "binance:spot:BTC/USDT:1m"
    async with live_server(history_settings(make_settings, tmp_path)) as s:
        r = await s.http.get("/api/market/candles", params={"series_id": sid})
        assert r.status_code == 200 and r.json()["candles"] == []
        state = await poll_imported(s, sid)
        assert state["status"] == "failed" and "empty file" in state["last_error"]
        text = (await s.http.get("/metrics")).text
        assert 'trade_canvas_history_bad_files_total{reason="empty"} 1.0' in text


async def test_listing_shows_datadir_series_and_unusable_files(
    make_settings: SettingsFactory,
) -> None:
    async with live_server(history_settings(make_settings, DATADIR)) as s:
        listing = (await s.http.get("/api/market/series")).json()["series"]
        ids = {e["series_id"] for e in listing}
        assert "binance:futures:XRP/USDT:USDT:5m" in ids and "binance:spot:ETH/BTC:5m" in ids
        xrp = next(e for e in listing if e["series_id"] == "binance:futures:XRP/USDT:USDT:1h")
        assert [f["format"] for f in xrp["datadir_files"]] == ["feather", "jsongz"]
        assert xrp["count"] == 0  # listed before anything asked for it
        debug = (await s.http.get("/api/market/debug/ingest_state")).json()
        unusable = {Path(f["path"]).name for f in debug["datadir"]["unusable_files"]}
        assert "UNITTEST_BTC-8m.feather" in unusable and "NOPAIR_XXX-4m.json" in unusable


async def test_history_off_serves_only_the_store(make_settings: SettingsFactory) -> None:
    settings = make_settings(market_history_source="off", freqtrade_datadir=DATADIR)
    async with live_server(settings) as s:
        r = await s.http.get("/api/market/candles", params={"series_id": "binance:spot:ETH/BTC:5m"})
        assert r.json()["candles"] == []


async def test_a_still_forming_last_candle_is_not_imported(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    import time

    now_open = int(time.time()) // 60 * 60
    data = rows(10, start=now_open - 9 * 60)  # the last one opened this minute
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", data, "feather")
    async with live_server(history_settings(make_settings, tmp_path)) as s:
        assert await all_candles(s, "binance:spot:BTC/USDT:1m") == data[:-1]
