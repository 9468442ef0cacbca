"""The live ingest on an injected clock the test moves, for every venue: staleness,
reconnect backoff, batching and the client heartbeat are judged on that clock, so a
30-second silence is seen without waiting 30 seconds. The exchange is the local one over
real sockets; the store is a real SQLite file; the sink is the real CandleWriter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from app.exchanges.registry import Venue
from app.exchanges.upstream import UpstreamMetrics
from app.exchanges.venues import VENUES as SERVED
from app.hub import CandleWriter, Fanout
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.series import parse_series_id
from app.store import CandleStore
from app.store.sqlite import SqliteCandleStore
from local_exchange.server import FakeVenue
from tests.conftest import SettingsFactory
from tests.live_support import (
    FAST,
    VENUES,
    exchange_history,
    live_settings,
    newest_closed,
    start_fake,
)
from tests.manual_clock import ManualClock, drive

VENUE_OF = {venue.name: venue.build for venue in SERVED}
STALE_S = 30.0  # the default: no test could wait it out in real time


@dataclass
class Rig:
    fake: FakeVenue
    clock: ManualClock
    store: CandleStore
    ingestor: LiveIngestor
    series_id: str

    async def head(self) -> int | None:
        return await self.store.head_time(self.series_id)

    async def caught_up(self) -> bool:
        head = await self.head()
        return head is not None and head >= newest_closed(self.fake)

    def connection(self) -> dict[str, object]:
        [connection] = self.ingestor.connections()
        return connection


@asynccontextmanager
async def rig(
    make_settings: SettingsFactory, tmp_path: Path, fake: FakeVenue
) -> AsyncIterator[Rig]:
    clock = ManualClock(fake.exchange.clock.now)
    metrics = Metrics()
    venue: Venue = VENUE_OF[fake.name](
        make_settings(**live_settings(fake)), UpstreamMetrics(metrics), clock
    )
    store = SqliteCandleStore(tmp_path / "store.sqlite", metrics)
    await store.open()
    locks = SeriesLocks()
    fanout = Fanout(store, locks, catchup_max=5000)
    writer = CandleWriter(store, locks, fanout, clock)
    options = IngestOptions(stale_s=STALE_S, backfill_max_candles=30)
    ingestor = LiveIngestor(
        venue.name, venue.feeds["futures"], venue.rest, writer, fanout, IngestMetrics(metrics, clock),
        options, clock,
    )  # fmt: skip
    series_id = f"{fake.name}:futures:BTC/USDT:USDT:1m"
    try:
        await ingestor.add(parse_series_id(series_id))
        yield Rig(fake, clock, store, ingestor, series_id)
    finally:
        await ingestor.stop()
        await venue.rest.close()
        await store.close()


async def stored_equals_exchange(r: Rig) -> None:
    rows = await r.store.newest(r.series_id, 5000)
    assert rows, "nothing stored"
    assert list(rows) == exchange_history(r.fake, r.series_id, rows[0][0], rows[-1][0])


@pytest.mark.parametrize("venue", VENUES)
async def test_a_silent_connection_is_judged_on_the_clock(
    make_settings: SettingsFactory, tmp_path: Path, venue: str
) -> None:
    fake = start_fake(venue=venue)
    try:
        async with rig(make_settings, tmp_path, fake) as r:
            await drive(r.clock, r.caught_up, "caught up", step=0.05)
            fake.run("futures", lambda w: w.stall(3600))
            await drive(r.clock, lambda: r.connection()["reconnects"] == 1,
                        f"a reconnect after {STALE_S:g}s of silence on the clock", step=0.5)  # fmt: skip
            assert r.connection()["last_error"] == f"no frame for {STALE_S:g}s"
            fake.run("futures", lambda w: w.stall(0))
            await drive(r.clock, r.caught_up, "caught up after the silence", step=0.05)
            await stored_equals_exchange(r)
    finally:
        fake.stop()


@pytest.mark.parametrize("venue", ["bybit", "okx"])
async def test_the_clients_heartbeat_keeps_its_connection(
    make_settings: SettingsFactory, tmp_path: Path, venue: str
) -> None:
    """Bybit and OKX cut a client that sends nothing (here after 2 real seconds): the ping
    every 20 s on the clock keeps the one connection open while the clock runs ahead."""
    fake = start_fake(limits=replace(FAST, client_idle_s=2.0), venue=venue)
    try:
        async with rig(make_settings, tmp_path, fake) as r:
            await drive(r.clock, r.caught_up, "caught up", step=0.05)
            subscribes = fake.run("futures", lambda w: w.messages_received)
            # Three pings (60 s on the clock) take ~3 real seconds at this step: past the
            # idle cut, which a client without its heartbeat would have met.
            await drive(
                r.clock, lambda: fake.run("futures", lambda w: w.messages_received) >= subscribes + 3,
                "three pings", step=0.2,
            )  # fmt: skip
            assert fake.run("futures", lambda w: w.connections_accepted) == 1
            assert r.connection()["reconnects"] == 0
            await drive(r.clock, r.caught_up, "still caught up", step=0.05)
            await stored_equals_exchange(r)
    finally:
        fake.stop()


@pytest.mark.parametrize("venue", VENUES)
async def test_rest_failures_during_backfill_are_retried(
    make_settings: SettingsFactory, tmp_path: Path, venue: str
) -> None:
    """The venue's REST answers a backfill with its failure (Binance 503, Bybit's 403
    ban, OKX's 429): the series says so, and once REST answers again the hole is filled. A ban is
    waited out on the clock, with nothing asked of the venue meanwhile."""
    fake = start_fake(venue=venue)
    try:
        async with rig(make_settings, tmp_path, fake) as r:
            await drive(r.clock, r.caught_up, "caught up", step=0.05)
            live = r.ingestor.series_state(r.series_id)
            assert live is not None
            fake.exchange.fail_rest(2)
            fake.run("futures", lambda w: w.omit_closes(2))
            await drive(r.clock, lambda: live.last_error is not None, "a failed backfill",
                        step=0.2)  # fmt: skip
            error = live.last_error or ""
            if venue == "binance":
                assert "failed on binance" in error
            else:
                assert "rate-limited" in error
                asked = fake.exchange.rest_requests
                banned_at = r.clock.monotonic()
                assert live.retry_at is not None
                # The retry waits for the ban to end: nothing is asked of the venue
                # meanwhile, though more closes go missing (each a hole to fill).
                fake.run("futures", lambda w: w.omit_closes(3))
                # Bybit says nothing of how long (30 s are waited), OKX's window is 2 s.
                cooldown = 25.0 if venue == "bybit" else 1.5
                await drive(r.clock, lambda: r.clock.monotonic() - banned_at >= cooldown,
                            "most of the cooldown", step=0.05)  # fmt: skip
                assert fake.exchange.rest_requests == asked
            await drive(r.clock, r.caught_up, "caught up after the failures", step=0.2,
                        timeout=20)  # fmt: skip
            await drive(r.clock, lambda: live.last_error is None, "the error cleared", step=0.2)
            assert fake.exchange.rest_failures_left == 0
            await stored_equals_exchange(r)
    finally:
        fake.stop()


@pytest.mark.parametrize("venue", VENUES)
async def test_series_added_together_share_requests(
    make_settings: SettingsFactory, tmp_path: Path, venue: str
) -> None:
    """Series added while the connection is open are asked for in as few requests as the
    venue takes topics per request, not one request each (at the venue's request rate a
    thousand whitelisted series took two minutes to stream)."""
    fake = start_fake(venue=venue)
    try:
        async with rig(make_settings, tmp_path, fake) as r:
            await drive(r.clock, r.caught_up, "caught up", step=0.05)
            requests_before = fake.run("futures", lambda w: w.messages_received)
            added = [
                parse_series_id(f"{venue}:futures:{base}/USDT:USDT:{tf}")
                for base in ("ETH", "BNB", "SOL", "XRP", "ADA")
                for tf in ("1m", "5m", "15m", "1h")
            ]
            adding = asyncio.gather(*(r.ingestor.add(s) for s in added))
            await drive(
                r.clock, lambda: fake.run("futures", lambda w: len(w._streams)) == len(added) + 1,
                "every series streamed", step=0.05,
            )  # fmt: skip
            await adding
            requests = fake.run("futures", lambda w: w.messages_received) - requests_before
            per_request = r.ingestor.feed.limits.topics_per_request
            # One request as the first series arrives, the rest in full ones (a heartbeat
            # may fall in between); one request each would be 20.
            assert requests <= 2 + -(-len(added) // per_request), requests
    finally:
        fake.stop()
