"""Every candle knows where it came from (issue 34, provenance): a store filled from one
exchange endpoint (here the demo's local exchange) is never served or extended as another
endpoint's series. The server says so at start, in the series' status and `/ready`, refuses
its reads and its live feed, and `trade-canvas store forget` is the way out."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import SettingsFactory
from tests.live_support import live_settings, start_fake, stored
from tests.support import live_server, poll

SERIES = "binance:spot:BTC/USDT:1m"


async def test_a_store_filled_by_the_demo_is_not_served_as_the_real_exchange(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake = start_fake()
    try:
        common: dict[str, Any] = {
            "whitelist": [SERIES], "live_backfill_max_candles": 60,
        }  # fmt: skip
        # 1. The demo fills the store (as `serve --demo --db <the real store>` would).
        async with live_server(make_settings(**live_settings(fake, demo=True, **common))) as s:
            await poll(lambda: _has(s), "the demo's candles", timeout=60)

        # 2. The same store, now against "the real exchange".
        settings = make_settings(**live_settings(fake, **common))
        async with live_server(settings) as s:
            demo_rows = (await s.services.store.page(SERIES, 5000, since=-1)).candles
            assert demo_rows
            ready = (await s.http.get("/ready")).json()
            assert ready["status"] == "degraded", ready
            assert any("the demo's local exchange" in p and "store forget" in p
                       for p in ready["problems"]), ready  # fmt: skip
            status = (await s.http.get("/api/market/status", params={"series_id": SERIES})).json()
            assert status["state"] == "conflict", status
            assert f"trade-canvas store forget --series {SERIES}" in status["reason"], status
            read = await s.http.get("/api/market/candles", params={"series_id": SERIES})
            assert read.status_code == 409, read.text
            assert read.json()["error_code"] == "provenance_conflict", read.text
            facade = await s.http.get(
                "/binance/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"}
            )
            assert facade.status_code >= 400, facade.text

            async def refused() -> bool:
                jobs = (await s.http.get("/api/market/debug/ingest_state")).json()["jobs"]
                return any(j["series_id"] == SERIES and j["state"] == "failed" for j in jobs)

            await poll(refused, "its live feed to be refused", timeout=30)
            held = await s.services.store.page(SERIES, 5000, since=-1)
            assert held.candles == demo_rows  # nothing of the other endpoint's

        # 3. The way out, then the real exchange's own candles.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
        env["TRADE_CANVAS_DB_PATH"] = str(settings.db.path)
        if settings.store.url:
            env["TRADE_CANVAS_STORE_URL"] = settings.store.url
        forget = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "app", "store", "forget", "--series", SERIES],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert forget.returncode == 0, forget.stderr
        assert f"{SERIES}: {len(demo_rows):,} candles forgotten" in forget.stdout
        async with live_server(settings) as s:
            await poll(lambda: _has(s), "the real exchange's candles", timeout=60)
            assert (await s.http.get("/ready")).json() == {"status": "ready"}
        sources = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "app", "store", "sources"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "venue: binance at a local exchange" in sources.stdout, sources.stdout
        assert "demo" not in sources.stdout, sources.stdout
    finally:
        fake.stop()


async def _has(s: Any) -> bool:
    return len(await stored(s, SERIES)) >= 10
