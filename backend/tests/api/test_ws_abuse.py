"""Clients that make the server work for them: one that stops reading and keeps asking for
catchups, one that asks for more than its byte budget, and a subscribe that waits for a
download while the same connection pings and subscribes to other series."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.candle import CandleRow
from tests.conftest import FakeRest, SettingsFactory
from tests.freqtrade_support import store_with_freqtrade
from tests.history.test_history_download import download_settings
from tests.support import (
    SERIES,
    T0,
    StalledClient,
    live_server,
    metric_value,
    poll,
    recv_json,
    send_json,
)

# A stated bound: 200 catchups of 5,000 candles (about 0.1 GB if each were queued) may grow
# the server's memory by at most this much.
RSS_GROWTH_BOUND_MB = 48


def rows(n: int, start: int = T0) -> list[CandleRow]:
    return [
        (start + 60 * i, 100.0 + i, 102.5 + i, 99.25 + i, 101.125 + i, 1.5 + i) for i in range(n)
    ]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_repeated_catchups_to_a_stalled_client_are_coalesced(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(ws_messages_per_s=10_000, ws_message_burst=10_000)
    async with live_server(settings) as s:
        await s.services.store.upsert_many(SERIES, rows(5_000))
        stalled = await StalledClient.connect(s.ws_url)
        try:
            before = rss_mb()
            for _ in range(200):
                await stalled.send_json({"type": "subscribe", "series_id": SERIES, "since": 0})

            async def all_answered() -> bool:
                # Each catchup was sent (into the socket's buffers) or superseded, but the
                # one being written and the newest, which waits in the queue.
                sent = await metric_value(s, "trade_canvas_ws_messages_sent_total")
                dropped = await metric_value(s, "trade_canvas_ws_messages_dropped_total")
                return sent + dropped >= 198

            await poll(all_answered, "198 catchups to be sent or superseded", timeout=60)
            assert await metric_value(s, "trade_canvas_ws_messages_dropped_total") >= 150
            growth = rss_mb() - before
            assert growth < RSS_GROWTH_BOUND_MB, f"RSS grew {growth:.0f} MB"
            # Once it reads, the client gets whole catchups, the newest last.
            first = await stalled.recv_json(30)
            assert first["type"] == "catchup" and len(first["candles"]) == 5_000
        finally:
            await stalled.close()


async def test_a_client_over_its_byte_budget_is_closed_with_1008(
    make_settings: SettingsFactory,
) -> None:
    # Room for all 16 series: the client's share of on-demand slots is not what is tested.
    settings = make_settings(
        ws_send_queue_max_bytes=1024 * 1024, ondemand_max_jobs=16, ondemand_max_share=1
    )
    async with live_server(settings) as s:
        # 16 catchups of about 0.5 MB: more than the kernel's socket buffers take in.
        series = [f"binance:spot:C{i}/USDT:1m" for i in range(16)]
        await s.services.store.upsert_batches({sid: rows(5_000) for sid in series})
        stalled = await StalledClient.connect(s.ws_url)
        try:
            for sid in series:  # about 0.5 MB of catchup each
                await stalled.send_json({"type": "subscribe", "series_id": sid, "since": 0})

            async def closed_for_budget() -> bool:
                return await metric_value(s, "trade_canvas_ws_clients_closed_total") == 1

            await poll(closed_for_budget, "the client to be closed for its byte budget", 30)
            code, reason = await stalled.read_until_closed(30)
        finally:
            await stalled.close()
        assert code == 1008, (code, reason)
        assert "byte send budget" in reason
        await poll(
            lambda: s.services.fanout.follower_count(series[0]) == 0, "the session to be dropped"
        )
        # The server itself is fine.
        assert (await s.http.get("/health")).status_code == 200


async def test_a_waiting_subscribe_does_not_block_its_connection(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    settings = download_settings(make_settings, fake_binance, tmp_path)
    # The other series has its file: it is imported at once, no download.
    store_with_freqtrade(tmp_path, "BTC/USDT", "1m", rows(3), "feather")
    async with live_server(settings) as s:
        slow_series = "binance:spot:ETH/USDT:1h"  # no file: `freqtrade download-data` runs
        async with s.ws() as ws:
            await send_json(ws, {"type": "subscribe", "series_id": slow_series, "since": 0})
            started = time.monotonic()
            await send_json(ws, {"type": "ping"})
            assert await recv_json(ws) == {"type": "pong"}
            await send_json(ws, {"type": "subscribe", "series_id": SERIES, "since": 0})
            other = await recv_json(ws)
            answered_in = time.monotonic() - started
            assert other["type"] == "catchup" and other["series_id"] == SERIES, other
            assert [c["candle_time"] for c in other["candles"]] == [T0, T0 + 60, T0 + 120]
            # The slow one follows with its catchup once the download is in.
            slow = await recv_json(ws, 120)
            assert slow["type"] == "catchup" and slow["series_id"] == slow_series, slow
            assert len(slow["candles"]) >= 23
            waited = time.monotonic() - started
        assert answered_in < waited / 2, (answered_in, waited)


async def test_unsubscribe_cancels_a_waiting_subscribe(
    make_settings: SettingsFactory, fake_binance: FakeRest, tmp_path: Path
) -> None:
    settings = download_settings(make_settings, fake_binance, tmp_path)
    async with live_server(settings) as s:
        slow_series = "binance:spot:SOL/USDT:1h"
        async with s.ws() as ws:
            await send_json(ws, {"type": "subscribe", "series_id": slow_series})

            async def history_state() -> dict[str, Any]:
                debug = (await s.http.get("/api/market/debug/ingest_state")).json()
                state: dict[str, Any] = debug["history"].get(slow_series, {})
                return state

            async def downloading() -> bool:
                return (await history_state()).get("status") == "downloading"

            await poll(downloading, "the download to start", timeout=30)
            await send_json(ws, {"type": "unsubscribe", "series_id": slow_series})
            await send_json(ws, {"type": "ping"})
            assert await recv_json(ws) == {"type": "pong"}

            async def imported() -> bool:
                return (await history_state()).get("status") == "imported"

            await poll(imported, "the download and its import", timeout=120)
            # A subscribe still waiting would have queued its catchup by now.
            await send_json(ws, {"type": "ping"})
            assert await recv_json(ws, 10) == {"type": "pong"}
            assert s.services.fanout.follower_count(slow_series) == 0
