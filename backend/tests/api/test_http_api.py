"""The HTTP contract, against a real uvicorn server over loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.candle import Candle
from tests.conftest import STORE_ENGINES, SettingsFactory
from tests.support import SERIES, T0, LiveServer, candle, live_server, metric_value


@pytest.fixture(params=STORE_ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return str(request.param)


async def seed(server: LiveServer, n: int, start: int = T0, series_id: str = SERIES) -> None:
    candles = [
        Candle(start + 60 * i, 100.0 + i, 103.0 + i, 99.0 + i, 101.0 + i, 1.0 + i) for i in range(n)
    ]
    await server.services.writer.commit_closed(series_id, candles)


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"error_code", "message", "request_id"}
    assert body["error_code"] == code
    assert body["message"]
    assert body["request_id"] == r.headers["x-request-id"]
    return body


def times(r: httpx.Response) -> list[int]:
    return [c["candle_time"] for c in r.json()["candles"]]


async def get(server: LiveServer, **params: Any) -> httpx.Response:
    return await server.http.get("/api/market/candles", params={"series_id": SERIES, **params})


async def test_newest_candles_by_default(server: LiveServer) -> None:
    await seed(server, 600)
    r = await get(server)
    assert r.status_code == 200
    body = r.json()
    assert body["series_id"] == SERIES
    assert body["server_head_time"] == T0 + 599 * 60
    assert times(r) == [T0 + 60 * i for i in range(100, 600)]  # default limit 500
    first = body["candles"][0]
    assert first == {
        "candle_time": T0 + 6000,
        "open": 200.0,
        "high": 203.0,
        "low": 199.0,
        "close": 201.0,
        "volume": 101.0,
    }


async def test_limit_bounds(server: LiveServer) -> None:
    await seed(server, 6000)
    assert len(times(await get(server, limit=1))) == 1
    assert times(await get(server, limit=1)) == [T0 + 5999 * 60]
    assert len(times(await get(server, limit=5000))) == 5000
    for bad in (0, 5001, -1, "abc", "1.5", ""):
        assert_error(await get(server, limit=bad), 400, "invalid_parameter")


async def test_since_is_exclusive_and_ascending(server: LiveServer) -> None:
    await seed(server, 100)
    r = await get(server, since=T0 + 10 * 60, limit=5)
    assert times(r) == [T0 + 60 * i for i in range(11, 16)]
    assert r.json()["server_head_time"] == T0 + 99 * 60
    assert times(await get(server, since=T0 + 99 * 60)) == []
    assert len(times(await get(server, since=0, limit=5000))) == 100


async def test_before_pages_backwards(server: LiveServer) -> None:
    await seed(server, 100)
    assert times(await get(server, before=T0 + 10 * 60, limit=3)) == [
        T0 + 7 * 60,
        T0 + 8 * 60,
        T0 + 9 * 60,
    ]
    assert times(await get(server, before=T0, limit=3)) == []
    # Paging back with `before` = the oldest seen visits every candle once.
    seen: list[int] = []
    before = T0 + 100 * 60
    while page := times(await get(server, before=before, limit=7)):
        seen = page + seen
        before = page[0]
    assert seen == [T0 + 60 * i for i in range(100)]


async def test_since_and_before_together_read_the_window_between(server: LiveServer) -> None:
    """Both bounds exclusive; the oldest `limit` candles after `since`, before `before`."""
    await seed(server, 10)
    assert times(await get(server, since=T0 + 60, before=T0 + 300)) == [
        T0 + 120,
        T0 + 180,
        T0 + 240,
    ]
    assert times(await get(server, since=T0 + 60, before=T0 + 540, limit=2)) == [T0 + 120, T0 + 180]
    assert times(await get(server, since=T0 + 60, before=T0 + 120)) == []
    assert times(await get(server, since=T0 + 300, before=T0)) == []


@pytest.mark.parametrize("value", ["x", "1.5", "-5", "99999999999999999999"])
@pytest.mark.parametrize("param", ["since", "before"])
async def test_bad_time_params(server: LiveServer, param: str, value: str) -> None:
    assert_error(await get(server, **{param: value}), 400, "invalid_parameter")


@pytest.mark.parametrize(
    "series_id",
    ["", "nope", "binance:spot:BTC/USDT:2m", "kraken:spot:BTC/USDT:1m", "binance:spot:BTCUSDT:1m"],
)
async def test_invalid_series_id_is_400(server: LiveServer, series_id: str) -> None:
    r = await server.http.get("/api/market/candles", params={"series_id": series_id})
    assert_error(r, 400, "invalid_series_id")


async def test_missing_series_id_is_400(server: LiveServer) -> None:
    assert_error(await server.http.get("/api/market/candles"), 400, "invalid_parameter")


async def test_unknown_series_is_empty_not_an_error(server: LiveServer) -> None:
    r = await server.http.get(
        "/api/market/candles", params={"series_id": "binance:futures:ETH/USDT:USDT:1h"}
    )
    assert r.status_code == 200
    assert r.json() == {
        "series_id": "binance:futures:ETH/USDT:USDT:1h",
        "server_head_time": None,
        "candles": [],
    }


async def test_request_id_is_echoed_or_generated(server: LiveServer) -> None:
    r = await server.http.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await server.http.get("/health", headers={"X-Request-ID": "bad id\twith junk"})
    assert r.headers["x-request-id"] not in ("", "bad id\twith junk")
    r1, r2 = await server.http.get("/health"), await server.http.get("/health")
    assert r1.headers["x-request-id"] != r2.headers["x-request-id"]


async def test_unknown_route_and_wrong_method_use_the_error_body(server: LiveServer) -> None:
    assert_error(await server.http.get("/api/nothing"), 404, "not_found")
    assert_error(await server.http.delete("/api/market/candles"), 405, "method_not_allowed")


async def test_ingest_stores_and_is_idempotent(server: LiveServer) -> None:
    r = await server.ingest(SERIES, candle(T0))
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 1 and r.json()["server_head_time"] == T0
    r = await server.ingest(SERIES, candle(T0))
    assert (r.json()["inserted"], r.json()["updated"]) == (0, 0)
    r = await server.ingest(SERIES, candle(T0, base=50))
    assert (r.json()["inserted"], r.json()["updated"]) == (0, 1)
    assert (await get(server)).json()["candles"] == [candle(T0, base=50)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "bad_request"),
        (b"[1,2]", "bad_request"),
        (b'{"candle": {}}', "invalid_series_id"),
        (b'{"series_id": "binance:spot:BTC/USDT:1m"}', "invalid_candle"),
        (
            b'{"series_id": "binance:spot:BTC/USDT:1m", "candle": {"candle_time": 1}}',
            "invalid_candle",
        ),
        (b'{"series_id": "x", "candle": {}}', "invalid_series_id"),
    ],
)
async def test_ingest_rejects_bad_bodies(server: LiveServer, body: bytes, code: str) -> None:
    r = await server.http.post(
        "/api/market/ingest/candle_closed",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert_error(r, 400, code)


async def test_ingest_rejects_unaligned_and_implausible_candles(server: LiveServer) -> None:
    assert_error(await server.ingest(SERIES, candle(T0 + 1)), 400, "invalid_candle")
    assert_error(await server.ingest(SERIES, {**candle(T0), "high": 1.0}), 400, "invalid_candle")
    assert_error(await server.ingest(SERIES, {**candle(T0), "open": "1"}), 400, "invalid_candle")
    assert (await get(server)).json()["candles"] == []


@pytest.mark.parametrize(
    "series_id",
    ["binance:spot:BTC/USDT:1M", "binance:spot:BTC/USDT:1w", "binance:spot:BTC/USDT:1m"],
)
async def test_ingest_rejects_candles_beyond_the_next_one(
    server: LiveServer, series_id: str
) -> None:
    # 2**40 - 1 s is the year 36812; a 1w week in the year 11476 was stored before.
    for t in (2**40 - 1, 297_999_792_000, 2**62):
        assert_error(await server.ingest(series_id, candle(t)), 400, "invalid_candle")
    r = await server.http.get("/api/market/candles", params={"series_id": series_id})
    assert r.json()["candles"] == []


async def test_ingest_rejects_huge_bodies(server: LiveServer) -> None:
    r = await server.http.post("/api/market/ingest/candle_closed", content=b" " * 100_000)
    assert_error(r, 413, "payload_too_large")


async def test_ingest_is_off_unless_enabled(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(enable_ingest_api=False)) as s:
        assert_error(await s.ingest(SERIES, candle(T0)), 404, "not_found")


async def test_ingest_token(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(ingest_token="s3cret")) as s:
        assert_error(await s.ingest(SERIES, candle(T0)), 401, "unauthorized")
        r = await s.http.post(
            "/api/market/ingest/candle_closed",
            json={"series_id": SERIES, "candle": candle(T0)},
            headers={"Authorization": "Bearer wrong"},
        )
        assert_error(r, 403, "forbidden")
        # A non-ASCII token is a wrong token, not a 500 (headers arrive as latin-1).
        for header in ("Bearer s3cr\u00e9t".encode("latin-1"), "Bearer s3cr€t".encode()):
            r = await s.http.post(
                "/api/market/ingest/candle_closed",
                json={"series_id": SERIES, "candle": candle(T0)},
                headers={"Authorization": header},  # type: ignore[dict-item]
            )
            assert_error(r, 403, "forbidden")
        r = await s.http.post(
            "/api/market/ingest/candle_closed",
            json={"series_id": SERIES, "candle": candle(T0)},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert r.status_code == 200


def test_non_ascii_ingest_token_is_refused_at_startup(make_settings: SettingsFactory) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        make_settings(ingest_token="s3cr€t")


async def test_series_listing(make_settings: SettingsFactory) -> None:
    wl = "binance:futures:ETH/USDT:USDT:1h"
    async with live_server(make_settings(whitelist=[wl])) as s:
        await seed(s, 3)
        r = await s.http.get("/api/market/series")
        assert r.status_code == 200
        no_catalog = {"price_tick": None, "amount_step": None}  # the venue is not asked here
        off = {
            "state": "live_off",
            "reason": "live ingest is off (TRADE_CANVAS_LIVE_INGEST=0)",
            "hole_count": 0,
        }
        assert r.json()["series"] == [
            {
                "series_id": wl,
                "exchange": "binance",
                "market": "futures",
                "symbol": "ETH/USDT:USDT",
                "timeframe": "1h",
                "first_time": None,
                "head_time": None,
                "count": 0,
                "hole_count": 0,
                "live": False,
                **no_catalog,
                "status": {**off, "head_time": None},
            },
            {
                "series_id": SERIES,
                "exchange": "binance",
                "market": "spot",
                "symbol": "BTC/USDT",
                "timeframe": "1m",
                "first_time": T0,
                "head_time": T0 + 120,
                "count": 3,
                "hole_count": 0,
                "live": False,
                **no_catalog,
                "status": {**off, "head_time": T0 + 120},
            },
        ]


async def test_health_ready_metrics(server: LiveServer) -> None:
    assert (await server.http.get("/health")).json() == {"status": "ok"}
    assert (await server.http.get("/ready")).json() == {"status": "ready"}
    await server.ingest(SERIES, candle(T0))
    await get(server)
    text = (await server.http.get("/metrics")).text
    assert "trade_canvas_http_request_duration_seconds_count" in text
    assert 'route="/api/market/candles"' in text
    assert await metric_value(server, "trade_canvas_db_commits_total") == 1
    assert await metric_value(server, "trade_canvas_db_rows_written_total") == 1
    # The one commit is timed once (by the writer), not again by the store.
    assert await metric_value(server, "trade_canvas_db_write_duration_seconds_count") == 1


async def test_ready_is_503_when_the_store_is_closed(server: LiveServer) -> None:
    await server.services.store.close()
    assert_error(await server.http.get("/ready"), 503, "not_ready")
    assert_error(await get(server), 503, "store_unavailable")


async def test_debug_state_is_gated(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(enable_debug_api=False)) as s:
        assert_error(await s.http.get("/api/market/debug/ingest_state"), 404, "not_found")
    async with live_server(make_settings(whitelist=[SERIES])) as s:
        body = (await s.http.get("/api/market/debug/ingest_state")).json()
        assert body["max_jobs"] == 16 and body["active"] == 0
        assert body["jobs"][0]["series_id"] == SERIES
        job = body["jobs"][0]
        assert {"kind", "refcount", "state", "source", "head_time", "last_error"} <= set(job)
        assert job["kind"] == "whitelist"


async def test_cors_origins_from_settings(make_settings: SettingsFactory) -> None:
    async with live_server(make_settings(cors_origins=["http://chart.example"])) as s:
        r = await s.http.get("/health", headers={"Origin": "http://chart.example"})
        assert r.headers["access-control-allow-origin"] == "http://chart.example"
        r = await s.http.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


async def test_concurrent_ingest_and_reads_never_500(server: LiveServer) -> None:
    posts = [server.ingest(SERIES, candle(T0 + 60 * i)) for i in range(100)]
    reads = [get(server, limit=50) for _ in range(50)]
    responses = await asyncio.gather(*posts, *reads)
    assert all(r.status_code == 200 for r in responses)
    assert len(times(await get(server, limit=5000))) == 100
