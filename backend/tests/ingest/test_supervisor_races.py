"""The supervisor where an idle job's expiry meets a new subscriber: whatever the order in
which the two interleave, the series that was asked for again ends up streamed. Real
parts throughout (the local Binance over sockets, a SQLite store, the real writer); the
server's clock is one the test moves, so the expiry fires exactly when the test says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.exchanges.binance.venue import binance_venue
from app.exchanges.upstream import UpstreamMetrics
from app.hub import CandleWriter, Fanout
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.ingest.supervisor import IngestSupervisor
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.series import parse_series_id
from app.store.sqlite import SqliteCandleStore
from tests.conftest import SettingsFactory
from tests.live_support import live_settings, start_fake
from tests.manual_clock import ManualClock, drive

A = parse_series_id("binance:futures:BTC/USDT:USDT:1m")
IDLE_S = 60.0


@pytest.mark.parametrize("yields", range(6))
async def test_a_subscriber_back_as_the_idle_job_expires_keeps_the_stream(
    make_settings: SettingsFactory, tmp_path: Path, yields: int
) -> None:
    """`yields` event-loop turns pass between the expiry's moment and the new subscribe:
    each places the subscribe at another point of the expiry's way (waiting, deciding,
    stopping, stopped)."""
    fake = start_fake()
    clock = ManualClock(fake.exchange.clock.now)
    metrics = Metrics()
    venue = binance_venue(make_settings(**live_settings(fake)), UpstreamMetrics(metrics), clock)
    store = SqliteCandleStore(tmp_path / "store.sqlite", metrics)
    await store.open()
    locks = SeriesLocks()
    fanout = Fanout(store, locks, catchup_max=5000)
    writer = CandleWriter(store, locks, fanout, clock)
    ingestor = LiveIngestor(
        "binance", venue.feeds["futures"], venue.rest, writer, fanout,
        IngestMetrics(metrics, clock), IngestOptions(backfill_max_candles=5), clock,
    )  # fmt: skip
    supervisor = IngestSupervisor(
        whitelist=[], max_jobs=4, idle_ttl_s=IDLE_S, history=None,
        ingestors={("binance", "futures"): ingestor}, metrics=metrics, clock=clock,
    )  # fmt: skip
    await supervisor.start()

    def streamed() -> bool:
        return fake.run("futures", lambda w: len(w._streams)) == 1

    try:
        await supervisor.acquire(A, "127.0.0.1")
        await drive(clock, streamed, "the stream", step=0.01)
        await supervisor.release(A, "127.0.0.1")
        await asyncio.sleep(0)  # the expiry starts waiting
        clock.advance(IDLE_S)
        for _ in range(yields):
            await asyncio.sleep(0)
        await supervisor.acquire(A, "127.0.0.1")
        await drive(clock, lambda: supervisor.live_series() == [str(A)], "A live", step=0.01)
        await drive(clock, streamed, "the stream to carry A again", step=0.01)
        [job] = supervisor.snapshot()["jobs"]
        assert (job["refcount"], job["state"]) == (1, "live")
        assert job["connection"] == "binance-futures-ws-1"  # the ingestor streams it
    finally:
        await supervisor.stop()
        await venue.rest.close()
        await store.close()
        fake.stop()
