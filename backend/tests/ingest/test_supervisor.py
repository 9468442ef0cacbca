"""IngestSupervisor through the real server: refcounts, idle expiry, eviction, capacity,
unknown symbols, and the whitelist from a freqtrade config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.roots.core import whitelist_of
from local_exchange.clock import SteppedClock
from local_exchange.server import FakeBinance
from tests.conftest import SettingsFactory
from tests.live_support import driven, live_settings, serving, start_fake, wait_caught_up
from tests.support import LiveServer, live_server, poll, recv_json, send_json

A = "binance:futures:BTC/USDT:USDT:1m"
B = "binance:futures:ETH/USDT:USDT:1m"


async def jobs(s: LiveServer) -> dict[str, dict[str, Any]]:
    body = (await s.http.get("/api/market/debug/ingest_state")).json()
    return {j["series_id"]: j for j in body["jobs"]}


async def subscribe(ws: Any, series_id: str) -> dict[str, Any]:
    """The reply to a subscribe, skipping stream messages of other series meanwhile."""
    await send_json(ws, {"type": "subscribe", "series_id": series_id})
    while True:
        msg = await recv_json(ws, 10)
        if msg.get("series_id") == series_id and msg["type"] in ("catchup", "error"):
            return msg


async def test_refcounts_follow_subscribers(
    make_settings: SettingsFactory, fake: FakeBinance
) -> None:
    async with serving(make_settings(**live_settings(fake)), fake) as s:
        async with s.ws() as one, s.ws() as two:
            assert (await subscribe(one, A))["type"] == "catchup"
            assert (await subscribe(two, A))["type"] == "catchup"
            assert (await jobs(s))[A]["refcount"] == 2
            await send_json(one, {"type": "unsubscribe", "series_id": A})
            await poll(lambda: _refcount(s, A, 1), "refcount 1")
            await poll(lambda: _state(s, A, "live"), "A live")
            job = (await jobs(s))[A]
            assert job["kind"] == "ondemand" and job["connection"] == "binance-futures-ws-1"
            assert job["idle_deadline"] is None
        await poll(lambda: _refcount(s, A, 0), "refcount 0 after disconnect")
        assert (await jobs(s))[A]["idle_deadline"] is not None


async def _refcount(s: LiveServer, sid: str, n: int) -> bool:
    return (await jobs(s)).get(sid, {}).get("refcount") == n


async def _state(s: LiveServer, sid: str, state: str) -> bool:
    return (await jobs(s)).get(sid, {}).get("state") == state


async def test_idle_jobs_expire_and_leave_the_stream(make_settings: SettingsFactory) -> None:
    """Expiry runs on the server's clock: a stepped one shared with the exchange, held still
    to show the job outlives the subscriber until its idle time has passed."""
    fake = start_fake(stepped=True)
    clock = fake.exchange.clock
    assert isinstance(clock, SteppedClock)
    settings = make_settings(**live_settings(fake, ondemand_idle_ttl_s=600))
    try:
        async with driven(clock) as driver, live_server(settings, clock) as s:
            async with s.ws() as ws:
                await subscribe(ws, A)
                await poll(lambda: _state(s, A, "live"), "A live")
                await poll(lambda: fake.run("futures", lambda w: len(w._streams)) == 1, "streaming")
                with driver.paused():
                    await send_json(ws, {"type": "unsubscribe", "series_id": A})
                    await poll(lambda: _refcount(s, A, 0), "A idle")
                    clock.advance(599)
                    await poll(lambda: _expiry_waits(s, A, clock.now()), "the expiry to wait")
                    clock.advance(2)
                    await poll(lambda: _gone(s, A), "the idle job to expire")
            # The exchange no longer streams it: it was unsubscribed (or its connection closed).
            await poll(lambda: fake.run("futures", lambda w: len(w._streams)) == 0, "unsubscribed")
    finally:
        fake.stop()


async def _expiry_waits(s: LiveServer, sid: str, now: float) -> bool:
    job = (await jobs(s)).get(sid)
    return job is not None and job["idle_deadline"] > now


async def _gone(s: LiveServer, sid: str) -> bool:
    return sid not in await jobs(s)


async def test_an_idle_job_is_evicted_for_a_new_one(
    make_settings: SettingsFactory, fake: FakeBinance
) -> None:
    settings = make_settings(**live_settings(fake, ondemand_max_jobs=1))
    async with serving(settings, fake) as s, s.ws() as ws:
        await subscribe(ws, A)
        await send_json(ws, {"type": "unsubscribe", "series_id": A})
        await poll(lambda: _refcount(s, A, 0), "A idle")
        assert (await subscribe(ws, B))["type"] == "catchup"
        current = await jobs(s)
        assert list(current) == [B]
        await poll(lambda: _state(s, B, "live"), "B live")
        await wait_caught_up(s, fake, B)


async def test_capacity_refuses_without_catchup(
    make_settings: SettingsFactory, fake: FakeBinance
) -> None:
    settings = make_settings(**live_settings(fake, ondemand_max_jobs=1))
    async with serving(settings, fake) as s, s.ws() as first, s.ws() as second:
        await subscribe(first, A)
        refused = await subscribe(second, B)
        assert refused["type"] == "error" and refused["code"] == "capacity"
        assert refused["series_id"] == B
        await send_json(second, {"type": "ping"})
        assert await recv_json(second) == {"type": "pong"}  # no catchup, no stream
        assert B not in await jobs(s)
        assert (await subscribe(second, A))["type"] == "catchup"  # a live one is fine


async def test_zero_capacity_still_serves_whitelisted_series(
    make_settings: SettingsFactory, fake: FakeBinance
) -> None:
    settings = make_settings(**live_settings(fake, ondemand_max_jobs=0, whitelist=[A]))
    async with serving(settings, fake) as s, s.ws() as ws:
        assert (await subscribe(ws, A))["type"] == "catchup"
        assert (await subscribe(ws, B))["code"] == "capacity"


async def test_unknown_symbols_are_refused_at_once_and_start_no_job(
    make_settings: SettingsFactory, fake: FakeBinance
) -> None:
    nope = "binance:futures:NOPE/USDT:USDT:1m"
    async with serving(make_settings(**live_settings(fake)), fake) as s, s.ws() as ws:
        await send_json(ws, {"type": "subscribe", "series_id": nope})
        error = await recv_json(ws, 10)
        assert error["type"] == "error" and error["code"] == "unknown_symbol"
        assert error["series_id"] == nope
        assert "NOPE/USDT:USDT is not listed" in error["message"]
        assert nope not in await jobs(s)
        requests = fake.exchange.rest_requests
        # A later subscriber is refused from the cached market list: no new request.
        async with s.ws() as late:
            await send_json(late, {"type": "subscribe", "series_id": nope})
            assert (await recv_json(late))["code"] == "unknown_symbol"
        assert fake.exchange.rest_requests == requests
        assert nope not in await jobs(s)


async def test_whitelist_from_a_freqtrade_config(
    make_settings: SettingsFactory, fake: FakeBinance, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "trading_mode": "futures",
                "timeframe": "1m",
                "exchange": {
                    "name": "binance",
                    "pair_whitelist": ["BTC/USDT:USDT", "ETH/USDT:USDT", "bad pair"],
                },
            }
        )
    )
    settings = make_settings(**live_settings(fake, freqtrade_config=config))
    async with serving(settings, fake) as s:
        await poll(lambda: _state(s, A, "live"), "A live")
        await poll(lambda: _state(s, B, "live"), "B live")
        current = await jobs(s)
        assert set(current) == {A, B}
        assert {j["kind"] for j in current.values()} == {"whitelist"}
        await wait_caught_up(s, fake, B)
        listing = (await s.http.get("/api/market/series")).json()["series"]
        assert {e["series_id"] for e in listing if e["live"]} == {A, B}


def test_a_freqtrade_configs_whitelist_is_on_its_exchange(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "timeframe": "5m",
                "exchange": {"name": "Bybit", "pair_whitelist": ["BTC/USDT", "ETH/USDT"]},
            }
        )
    )
    assert [str(s) for s in whitelist_of(make_settings(freqtrade_config=config))] == [
        "bybit:spot:BTC/USDT:5m", "bybit:spot:ETH/USDT:5m",
    ]  # fmt: skip
