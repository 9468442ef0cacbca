"""The live engine's own tests, on the in-memory venue (`memory_venue`): its feed, REST and
transport are fakes of the venue ports; everything of the engine is real (connections,
watchdog, attempt limit, batches, catch-ups, guard), and so are the store (a SQLite file)
and the CandleWriter. One stepped clock runs the venue and the engine, so a 30-second
silence or a two-minute ban passes in milliseconds.

Per-venue behaviour over real sockets is in test_live, test_live_clock and test_faults;
here each rule of the engine is held to its exact timing."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from app.candle import Candle, CandleRow
from app.hub import CandleWriter
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.series import SeriesId, parse_series_id
from app.store.sqlite import SqliteCandleStore
from local_exchange.clock import SteppedClock
from tests.manual_clock import drive
from tests.memory_venue import (
    LIMITS,
    TF,
    MemoryFeed,
    MemoryRest,
    MemoryVenue,
    forming_candle,
    kline_frame,
    row,
)
from tests.support import poll

START = 1_750_000_000 - 1_750_000_000 % TF + 30  # mid-candle
OPTIONS = IngestOptions(
    flush_s=0.25, stale_s=30.0, close_grace_s=3.0, backoff_initial_s=0.5, backoff_max_s=30.0,
    healthy_s=30.0, backfill_max_candles=30,
)  # fmt: skip
WINDOW_FROM = START - START % TF - OPTIONS.backfill_max_candles * TF
TOPIC = "BTC/USDT:USDT@1m"  # the memory feed's topic of `series()`


def series(symbol: str = "BTC/USDT:USDT") -> SeriesId:
    # Series ids name a registered venue; which one does not matter to the engine.
    return parse_series_id(f"binance:futures:{symbol}:1m")


class BroadcastLog:
    """The writer's bus: records every closed broadcast and checks, in that moment, that
    each candle is in the SQLite file (read over a second connection: committed)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self.closed_times: list[int] = []
        self.uncommitted: list[int] = []

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        if self._db is None:
            self._db = sqlite3.connect(self._path)
        for candle in candles:
            self.closed_times.append(candle[0])
            found = self._db.execute(
                "SELECT 1 FROM candles JOIN series USING (series_key)"
                " WHERE series_id = ? AND candle_time = ?",
                (series_id, candle[0]),
            ).fetchone()
            if found is None:
                self.uncommitted.append(candle[0])

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        pass

    def error(self, series_id: str, code: str, message: str) -> None:
        pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


@dataclass
class Rig:
    clock: SteppedClock
    venue: MemoryVenue
    store: SqliteCandleStore
    ingestor: LiveIngestor
    metrics: Metrics
    broadcasts: BroadcastLog

    async def head(self, s: SeriesId | None = None) -> int | None:
        return await self.store.head_time(str(s or series()))

    async def caught_up(self, s: SeriesId | None = None) -> bool:
        """Every candle from the window's start to the venue's newest close is stored."""
        stats = await self.store.stats(str(s or series()))
        if stats is None or stats.first_time is None or stats.head_time is None:
            return False
        return (
            stats.first_time <= WINDOW_FROM
            and stats.head_time == self.venue.newest_closed()
            and stats.count == (stats.head_time - stats.first_time) // TF + 1
        )

    async def run(self, what: str, condition_s: float, step: float = 1.0) -> None:
        """Move the clock on by `condition_s` seconds and until the series is caught up."""
        until = self.clock.monotonic() + condition_s

        async def done() -> bool:
            return self.clock.monotonic() >= until and await self.caught_up()

        await drive(self.clock, done, what, step=step, timeout=60)

    def connection(self) -> dict[str, object]:
        [connection] = self.ingestor.connections()
        return connection

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def rejected(self, reason: str) -> float:
        return self.sample("trade_canvas_ingest_frames_rejected_total", venue="binance",
                           reason=reason)  # fmt: skip

    async def stored_equals_venue(self, s: SeriesId | None = None) -> None:
        rows = await self.store.newest(str(s or series()), 5000)
        assert rows and rows[0][0] <= WINDOW_FROM, "the window the series holds is missing"
        assert list(rows) == self.venue.history(rows[0][0], self.venue.newest_closed())
        assert self.broadcasts.uncommitted == [], "broadcast as closed before its commit"


@asynccontextmanager
async def engine(
    tmp_path: Path, *, options: IngestOptions = OPTIONS, **limits: Any
) -> AsyncIterator[Rig]:
    clock = SteppedClock(start=START)
    venue = MemoryVenue(clock, MemoryFeed(replace(LIMITS, **limits))).start()
    metrics = Metrics()
    path = tmp_path / "store.sqlite"
    store = SqliteCandleStore(path, metrics)
    await store.open()
    broadcasts = BroadcastLog(path)
    writer = CandleWriter(store, SeriesLocks(), broadcasts, clock)
    ingestor = LiveIngestor(
        "binance", venue.feed, MemoryRest(venue), writer, broadcasts, IngestMetrics(metrics, clock),
        options, clock, transport=venue,
    )  # fmt: skip
    try:
        yield Rig(clock, venue, store, ingestor, metrics, broadcasts)
    finally:
        await ingestor.stop()
        await venue.stop()
        broadcasts.close()
        await store.close()


@asynccontextmanager
async def streaming(tmp_path: Path, **limits: Any) -> AsyncIterator[Rig]:
    """`engine`, with BTC added and the window it holds fetched."""
    async with engine(tmp_path, **limits) as r:
        await r.ingestor.add(series())
        await r.run("the window fetched", 0)
        yield r


async def test_the_stream_keeps_a_series_complete_and_broadcasts_only_committed_closes(
    tmp_path: Path,
) -> None:
    async with streaming(tmp_path) as r:
        rest_calls = len(r.venue.rest_calls)
        head = await r.head()
        await r.run("ten closes over the stream", 10 * TF)
        assert len(r.venue.rest_calls) == rest_calls, "the stream alone kept it complete"
        assert head is not None and await r.head() == head + 10 * TF
        assert r.broadcasts.closed_times[-10:] == [head + i * TF for i in range(1, 11)]
        await r.stored_equals_venue()


async def test_a_lost_close_is_fetched_after_the_grace_for_a_late_one(tmp_path: Path) -> None:
    async with streaming(tmp_path) as r:
        lost = r.venue.newest_closed() + 2 * TF
        r.venue.lost.add(lost)
        rest_calls = len(r.venue.rest_calls)
        await r.run("past the lost close", 4 * TF, step=0.5)
        [(asked_at, after), *_] = r.venue.rest_calls[rest_calls:]
        assert after == lost - TF  # from where the series is complete, not its head
        # The next candle's first update showed the hole (it came when the lost candle
        # should have closed); REST was asked only after the grace for a late close.
        hole_seen_at = lost + TF - START
        assert hole_seen_at + OPTIONS.close_grace_s <= asked_at
        assert asked_at <= hole_seen_at + OPTIONS.close_grace_s + 0.5
        await r.stored_equals_venue()


async def test_a_dropped_stream_reconnects_with_growing_backoff_and_loses_nothing(
    tmp_path: Path,
) -> None:
    async with engine(tmp_path) as r:
        await r.ingestor.add(series())
        await r.run("a healthy connection", 2 * TF)
        r.venue.refusals = 4
        r.venue.drop_all()
        await drive(r.clock, lambda: len(r.venue.connect_attempts) == 6, "5 reconnects", step=0.05,
                    timeout=60)  # fmt: skip
        gaps = [b - a for a, b in itertools.pairwise(r.venue.connect_attempts[1:])]
        # Jittered doubling from 0.5 s: attempt k waits 0.5 * 2**k * [0.5, 1.5].
        for k, gap in enumerate(gaps, start=1):
            expected = OPTIONS.backoff_initial_s * 2**k
            assert 0.5 * expected <= gap <= 1.5 * expected + 0.05, (k, gaps)
        await r.run("caught up after the drop", 3 * TF)
        assert r.connection()["reconnects"] == 5 and r.connection()["last_error"] is None
        await r.stored_equals_venue()


async def test_reconnects_stay_within_the_venues_connection_rate(tmp_path: Path) -> None:
    async with streaming(tmp_path, connects_per_5min=3) as r:
        r.venue.refusals = 10
        r.venue.drop_all()
        await drive(r.clock, lambda: len(r.venue.connect_attempts) == 8, "8 attempts", step=1.0,
                    timeout=60)  # fmt: skip
        attempts = r.venue.connect_attempts
        for i in range(3, len(attempts)):
            assert attempts[i] - attempts[i - 3] >= 300, attempts


async def test_connections_dropped_together_reconnect_within_the_per_second_limit(
    tmp_path: Path,
) -> None:
    """OKX takes 3 connection attempts per second from an IP: eight connections cut at
    once come back at most three in any second."""
    async with engine(tmp_path, topics_per_connection=1, connects_per_s=3) as r:
        for i in range(8):
            await r.ingestor.add(series(f"C{i}/USDT:USDT"))
        await drive(r.clock, lambda: len(r.venue.sockets) == 8, "eight connections", step=0.1)
        r.venue.drop_all()
        await drive(r.clock, lambda: len(r.venue.connect_attempts) == 16, "eight reconnects",
                    step=0.05)  # fmt: skip
        attempts = r.venue.connect_attempts
        for i in range(3, len(attempts)):
            assert attempts[i] - attempts[i - 3] >= 1.0, attempts
        await drive(r.clock, lambda: len(r.venue.sockets) == 8, "eight connections again",
                    step=0.1)  # fmt: skip


async def test_subscribe_requests_stay_within_the_hourly_limit(tmp_path: Path) -> None:
    """OKX takes 480 (un)subscribe requests per connection per hour (here 3): a fourth
    series added within the hour is subscribed once the first request is an hour old."""
    async with engine(tmp_path, requests_per_hour=3) as r:

        def sent(n: int) -> Callable[[], bool]:
            return lambda: len(r.venue.requests()) == n

        for i in range(1, 4):
            await r.ingestor.add(series(f"C{i}/USDT:USDT"))
            await drive(r.clock, sent(i), "a request", step=1.0)
        first = r.venue.requests()[0].at
        await r.ingestor.add(series("C4/USDT:USDT"))
        await drive(r.clock, lambda: r.clock.monotonic() >= first + 3000, "50 minutes", step=10.0,
                    timeout=60)  # fmt: skip
        assert len(r.venue.requests()) == 3
        await drive(r.clock, lambda: len(r.venue.requests()) == 4, "the fourth request",
                    step=1.0, timeout=60)  # fmt: skip
        assert first + 3600 <= r.venue.requests()[3].at <= first + 3601
        [socket] = r.venue.sockets
        assert "C4/USDT:USDT@1m" in socket.topics


async def test_a_silent_stream_is_ended_after_stale_s_on_the_clock(tmp_path: Path) -> None:
    async with streaming(tmp_path) as r:
        silent_from = r.clock.monotonic()
        r.venue.silent = True
        await drive(r.clock, lambda: r.clock.monotonic() >= silent_from + OPTIONS.stale_s - 1,
                    "nearly stale_s of silence", step=0.5)  # fmt: skip
        # Fine steps from here, to see the backoff between the two connections.
        await drive(r.clock, lambda: r.connection()["state"] == "backoff", "the end", step=0.05)
        assert r.connection()["last_error"] == "no frame for 30s"
        await drive(r.clock, lambda: len(r.venue.connect_attempts) == 2, "a reconnect", step=0.05)
        reconnected_at = r.venue.connect_attempts[1]
        # The watchdog looks every stale_s / 4; the backoff adds at most 0.75 s.
        assert OPTIONS.stale_s <= reconnected_at - silent_from <= OPTIONS.stale_s * 1.25 + 1.5
        r.venue.silent = False
        await r.run("caught up after the silence", 2 * TF)
        await r.stored_equals_venue()


async def test_a_connection_is_renewed_ahead_of_the_venues_age_cut(tmp_path: Path) -> None:
    async with engine(tmp_path, max_connection_age_s=60.0) as r:
        await r.ingestor.add(series())
        await r.run("five minutes", 5 * TF, step=0.5)
        attempts = r.venue.connect_attempts
        assert len(attempts) >= 4
        for a, b in itertools.pairwise(attempts):
            # Ahead of the cut by at most the watchdog's period, and at once (no backoff).
            assert 60 <= b - a <= 60 + OPTIONS.stale_s / 4 + 0.5, attempts
        assert r.connection()["last_error"] is None
        await r.stored_equals_venue()


async def test_an_announced_restart_reconnects_at_once(tmp_path: Path) -> None:
    async with streaming(tmp_path) as r:
        announced_at = r.clock.monotonic()
        r.venue.push_all(orjson.dumps({"event": "reconnect"}).decode())
        # The clock holds still: a reconnect at once takes none of its time (a backoff or a
        # wait for the connection limit would never end).
        await poll(lambda: len(r.venue.connect_attempts) == 2, "a reconnect")
        assert r.venue.connect_attempts[1] == announced_at
        assert r.connection()["last_error"] is None
        await r.run("caught up", 2 * TF)
        await r.stored_equals_venue()


async def test_subscriptions_are_batched_and_spread_within_the_venues_limits(
    tmp_path: Path,
) -> None:
    async with engine(tmp_path, topics_per_connection=20, topics_per_request=10,
                      requests_per_s=2.0) as r:  # fmt: skip
        symbols = [f"C{i}/USDT:USDT" for i in range(25)]
        for symbol in symbols:
            await r.ingestor.add(series(symbol))

        def streamed() -> set[str]:
            return {t for socket in r.venue.sockets for t in socket.topics}

        wanted = {f"{s}@1m" for s in symbols}
        await drive(r.clock, lambda: streamed() == wanted, "every series streamed", step=0.1)
        assert sorted(len(socket.topics) for socket in r.venue.sockets) == [5, 20]
        requests = r.venue.requests()
        sizes = [len(orjson.loads(q.text)["args"]) for q in requests]
        assert max(sizes) <= 10 and len(requests) <= 5, sizes  # not one request per series
        for socket in r.venue.sockets:
            times = [q.at for q in requests if q.socket is socket]
            assert all(b - a >= 0.5 for a, b in itertools.pairwise(times)), times

        # Removing series unsubscribes them; the connection left with none is closed.
        small = next(s for s in r.venue.sockets if len(s.topics) == 5)
        for topic in sorted(small.topics):
            await r.ingestor.remove(series(topic.removesuffix("@1m")))
        await drive(r.clock, lambda: len(r.venue.sockets) == 1, "the empty connection closed",
                    step=0.1)  # fmt: skip
        big = next(s for s in r.venue.sockets)
        removed = sorted(big.topics)[:3]
        for topic in removed:
            await r.ingestor.remove(series(topic.removesuffix("@1m")))
        await drive(r.clock, lambda: not set(removed) & big.topics, "three unsubscribed",
                    step=0.1)  # fmt: skip
        assert len(big.topics) == 17


async def test_a_banned_catch_up_waits_for_the_bans_end_and_loses_nothing(
    tmp_path: Path,
) -> None:
    async with engine(tmp_path) as r:
        r.venue.rest_bans, r.venue.ban_s = 2, 120.0
        await r.ingestor.add(series())
        live = r.ingestor.series_state(str(series()))
        assert live is not None
        await drive(r.clock, lambda: live.last_error is not None, "the ban seen", step=0.5)
        assert (live.last_error or "").startswith("backfill: 429")
        await r.run("the window fetched after the bans", 0)
        asked = [at for at, _ in r.venue.rest_calls]
        assert asked[1] - asked[0] >= 120 and asked[2] - asked[1] >= 120, asked
        assert live.last_error is None
        await r.stored_equals_venue()


async def test_garbage_and_oversized_frames_are_dropped_and_the_stream_goes_on(
    tmp_path: Path,
) -> None:
    async with streaming(tmp_path) as r:
        newest = r.venue.newest_closed()
        r.venue.push_all("{not json")
        r.venue.push_all(orjson.dumps({"topic": TOPIC, "k": "x", "closed": True}).decode())
        two = {"topic": TOPIC, "k": [list(row(newest)), list(row(newest))], "closed": True}
        r.venue.push_all(orjson.dumps(two).decode())
        await r.run("two more closes", 2 * TF)
        assert r.sample("trade_canvas_ingest_bad_frames_total",
                        exchange="binance", market="futures") == 2  # fmt: skip
        assert r.rejected("oversized_frame") == 1
        assert r.connection()["reconnects"] == 0
        await r.stored_equals_venue()


async def test_a_close_that_would_rewrite_a_stored_candle_or_comes_from_the_future_is_refused(
    tmp_path: Path,
) -> None:
    async with streaming(tmp_path) as r:
        stored = r.venue.newest_closed() - 5 * TF
        rewritten = (stored, 1.0, 1.0, 1.0, 1.0, 1.0)
        r.venue.push_all(kline_frame(TOPIC, rewritten, True))
        future = r.venue.newest_closed() + 5 * TF
        r.venue.push_all(kline_frame(TOPIC, row(future), True))
        r.venue.push_all(kline_frame(TOPIC, forming_candle(future), False))
        await r.run("a close after them", TF, step=0.5)
        assert (r.rejected("conflict"), r.rejected("future")) == (1, 2)
        assert stored not in r.broadcasts.closed_times[-3:]
        await r.stored_equals_venue()  # the first value stays


async def test_stopping_commits_the_closes_still_buffered(tmp_path: Path) -> None:
    async with engine(tmp_path, options=replace(OPTIONS, flush_s=3600.0)) as r:
        await r.ingestor.add(series())
        await r.run("the window fetched", 0)
        head = await r.head()
        closes = r.sample("trade_canvas_ingest_closed_received_total", series_id=str(series()))
        await drive(
            r.clock, lambda: r.sample("trade_canvas_ingest_closed_received_total",
                                      series_id=str(series())) == closes + 3,
            "three closes received", step=0.5,
        )  # fmt: skip
        assert await r.head() == head  # buffered, not yet committed
        await r.ingestor.stop()
        assert await r.caught_up()
        await r.stored_equals_venue()


async def test_the_clients_heartbeat_is_sent_on_the_clock(tmp_path: Path) -> None:
    async with engine(tmp_path, heartbeat_s=20.0) as r:
        await r.ingestor.add(series())
        await r.run("two minutes", 2 * TF, step=0.5)
        pings = [q.at for q in r.venue.received_log if q.text == "ping"]
        assert len(pings) >= 4
        # Due every 20 s, sent at the watchdog's next look (every stale_s / 4 at most).
        for a, b in itertools.pairwise(pings):
            assert 20 <= b - a <= 20 + OPTIONS.stale_s / 4 + 0.5, pings
        assert len(r.venue.connect_attempts) == 1
