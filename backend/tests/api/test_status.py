"""Honest status: what the server says of a series is what is true of its feed, on the real
server against the local exchanges (or none)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from local_exchange.server import FakeVenue
from tests.conftest import FakeRest, SettingsFactory
from tests.live_support import VENUES, live_settings, start_fake
from tests.recorded import DATADIR
from tests.support import LiveServer, live_server, poll

FILE_SERIES = "binance:spot:UNITTEST/BTC:1m"  # a fixture file


@pytest.fixture(params=VENUES)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeVenue]:
    exchange = start_fake(venue=request.param)
    try:
        yield exchange
    finally:
        exchange.stop()


async def status_of(server: LiveServer, series_id: str) -> dict[str, Any]:
    r = await server.http.get("/api/market/status", params={"series_id": series_id})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["series_id"] == series_id
    return body


async def listed_status(server: LiveServer, series_id: str) -> dict[str, Any]:
    listing = (await server.http.get("/api/market/series")).json()["series"]
    status: dict[str, Any] = next(e for e in listing if e["series_id"] == series_id)["status"]
    return status


async def test_a_whitelisted_feed_says_when_its_exchange_is_unreachable_and_when_it_is_back(
    fake: FakeVenue, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    series = f"{fake.name}:spot:BTC/USDT:1m"
    settings = make_settings(**live_settings(fake, whitelist=[series]))
    async with live_server(settings) as server:

        async def state_is(state: str) -> bool:
            return (await status_of(server, series))["state"] == state

        await poll(lambda: state_is("streaming"), "the series to stream", timeout=30)
        assert (await server.http.get("/ready")).json() == {"status": "ready"}
        assert (await listed_status(server, series))["state"] == "streaming"

        caplog.set_level(logging.DEBUG, logger="app.ingest")
        caplog.clear()
        fake.run("spot", lambda ws: ws.refuse(10**9))
        fake.run("spot", lambda ws: ws.drop_all())

        async def refused() -> bool:
            status = await status_of(server, series)
            return status["state"] == "retrying" and "HTTP 503" in status["reason"]

        await poll(refused, "the status to say the exchange refuses", timeout=30)
        status = await status_of(server, series)
        assert status["reason"].startswith("exchange unreachable:"), status
        ready = (await server.http.get("/ready")).json()
        assert ready["status"] == "degraded", ready
        assert f"1 whitelisted feed(s) failing: {series}: " in ready["problems"][0], ready
        state = (await server.http.get("/api/market/debug/ingest_state")).json()
        job = next(j for j in state["jobs"] if j["series_id"] == series)
        assert job["status"]["state"] == "retrying"

        # Retries go on; the log said the failure once and the rest at debug level.
        attempts = lambda: sum("failed again" in r.getMessage() for r in caplog.records)  # noqa: E731
        await poll(lambda: attempts() >= 3, "three more failed attempts", timeout=30)
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len([r for r in warned if "failed:" in r.getMessage()]) == 1, warned

        fake.run("spot", lambda ws: ws.refuse(0))
        await poll(lambda: state_is("streaming"), "the series to stream again", timeout=30)
        assert (await server.http.get("/ready")).json() == {"status": "ready"}
        assert any("recovered after" in r.getMessage() for r in caplog.records)


async def test_live_ingest_off_and_a_missing_file_are_named(
    make_settings: SettingsFactory, fake_binance: FakeRest
) -> None:
    settings = make_settings(
        market_history_source="freqtrade", freqtrade_datadir=DATADIR, history_download=False,
        live_ingest=False, binance_spot_rest_url=fake_binance.url,
    )  # fmt: skip
    async with live_server(settings) as server:
        r = await server.http.get("/api/market/candles", params={"series_id": FILE_SERIES})
        assert r.status_code == 200 and r.json()["candles"]
        status = await status_of(server, FILE_SERIES)
        assert status["state"] == "live_off", status
        # The fixture file lacks candles in places: said, not hidden.
        assert status["reason"] == (
            f"live ingest is off (TRADE_CANVAS_LIVE_INGEST=0); {status['hole_count']} holes in "
            "its history"
        ), status
        assert status["head_time"] == r.json()["server_head_time"]

        absent = "binance:spot:ETH/USDT:1m"  # listed by the venue, not in the datadir
        r = await server.http.get("/api/market/candles", params={"series_id": absent})
        assert r.status_code == 200 and r.json()["candles"] == []
        status = await status_of(server, absent)
        assert status["state"] == "live_off", status
        assert "live ingest is off" in status["reason"]
        assert f"the datadir has no file for it ({DATADIR})" in status["reason"], status
        assert status["head_time"] is None


async def test_a_series_nobody_follows_is_history_only(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        market_history_source="freqtrade", freqtrade_datadir=DATADIR, history_download=False,
        live_ingest=True,
    )  # fmt: skip
    async with live_server(settings) as server:
        r = await server.http.get("/api/market/candles", params={"series_id": FILE_SERIES})
        assert r.status_code == 200
        status = await status_of(server, FILE_SERIES)
        assert status["state"] == "history_only", status
        assert status["head_time"] == r.json()["server_head_time"] is not None


async def test_a_failed_download_says_why(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Any
) -> None:
    """The real `freqtrade download-data` cannot finish within its time limit."""
    settings = make_settings(
        market_history_source="freqtrade", freqtrade_datadir=tmp_path / "data" / "binance",
        history_download=True, history_download_timeout_s=0.2, live_ingest=False,
        binance_spot_rest_url=fake_binance.url,
    )  # fmt: skip
    series = "binance:spot:BTC/USDT:1m"
    async with live_server(settings) as server:
        r = await server.http.get("/api/market/candles", params={"series_id": series})
        assert r.status_code == 200 and r.json()["candles"] == []
        status = await status_of(server, series)
        assert status["state"] == "download_failed", status
        assert status["reason"].startswith(
            "freqtrade download-data failed: download-data did not finish in 0.2s"
        ), status
        assert "live ingest is off" in status["reason"]


async def test_a_bad_series_id_is_a_client_error(server: LiveServer) -> None:
    r = await server.http.get("/api/market/status", params={"series_id": "binance:spot:BTC"})
    assert r.status_code == 400 and r.json()["error_code"] == "invalid_series_id", r.text
