"""Live-ingest test helpers: a local exchange (Binance or Bybit), sped up or on a stepped
clock it shares with the server, and comparisons with its history."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest

from app.candle import CandleRow
from app.config import Settings
from app.series import DERIVED_PRICES, parse_series_id, timeframe_seconds
from app.tasks import spawn
from local_exchange.clock import SteppedClock
from local_exchange.exchange import FakeExchange
from local_exchange.market import DerivedKind
from local_exchange.server import FakeVenue
from local_exchange.venues import LOCAL_VENUES
from local_exchange.ws import WsLimits
from tests.support import LiveServer, live_server, poll

SPEED = 60.0  # a 1m candle closes every real second
FAST = WsLimits(tick_s=0.1, ping_interval_s=5, ping_timeout_s=10, max_incoming_per_s=10)


VENUES = tuple(LOCAL_VENUES)


# A stepped clock, driven: 200 clock seconds pass per real second, on the exchange and in
# every timer of the server alike (staleness, close grace, backoff, batching).
CLOCK_STEP_S = 1.0
CLOCK_EVERY_S = 0.005


def start_fake(
    limits: WsLimits = FAST, venue: str = "binance", *, stepped: bool = False,
    history_days: float = 1, **exchange_kw: Any,
) -> FakeVenue:  # fmt: skip
    """The local exchange, sped up (a 1m candle closes every real second) or, `stepped`, on
    a clock that moves only when driven (see `driven`)."""
    clock = SteppedClock(start=time.time()) if stepped else None
    exchange = FakeExchange(speed=SPEED, clock=clock, history_days=history_days, **exchange_kw)
    return LOCAL_VENUES[venue].server(exchange, limits=limits).start()


# A sped-up exchange's clock may run this far ahead of ours in any test.
YEAR_S = 365 * 86400


def live_settings(fake: FakeVenue, **kw: Any) -> dict[str, Any]:
    """Timers in real seconds against a sped-up exchange, or in clock seconds on a stepped
    one: the same in candles either way. A sped-up exchange's clock runs ahead of ours by
    design, so its candles and its server time are not taken as from the future (a test of
    skew runs on a stepped clock, shared with the server, and sets its own)."""
    stepped = isinstance(fake.exchange.clock, SteppedClock)
    scale = SPEED if stepped else 1.0
    values: dict[str, Any] = {
        "live_ingest": True,
        **fake.settings(),
        **({} if stepped else {"live_clock_skew_s": YEAR_S}),
        "live_flush_s": 0.05 * scale,
        "live_stale_s": 1.5 * scale,
        "live_close_grace_s": 0.3 * scale,
        "live_backoff_max_s": 0.5 * scale,
        "ondemand_idle_ttl_s": 60,
    }
    values.update(kw)
    return values


class ClockDriver:
    """Moves a stepped clock on, the way real time would, only faster; `paused` holds it
    still, so a check can see a moment that does not move under it."""

    def __init__(self, clock: SteppedClock) -> None:
        self.clock = clock
        self._running = asyncio.Event()
        self._running.set()
        self._stop_at: float | None = None
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while True:
            await self._running.wait()
            stop_at = self._stop_at
            if stop_at is not None and self.clock.now() + CLOCK_STEP_S >= stop_at:
                self.clock.advance(max(0.0, stop_at - self.clock.now()))
                self._stop_at = None
                self._running.clear()
                self._stopped.set()
                continue
            self.clock.advance(CLOCK_STEP_S)
            await asyncio.sleep(CLOCK_EVERY_S)

    async def run_to(self, when: float) -> None:
        """Drive the clock on to exactly `when` (the exchange's epoch seconds, ahead of
        now) and hold it there (as `paused`) until `resume`."""
        self._stopped.clear()
        self._stop_at = when
        await self._stopped.wait()

    def resume(self) -> None:
        self._running.set()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._running.clear()
        try:
            yield
        finally:
            self._running.set()


@contextlib.asynccontextmanager
async def driven(clock: SteppedClock) -> AsyncIterator[ClockDriver]:
    driver = ClockDriver(clock)
    task = spawn(driver.run(), "the test's clock")
    try:
        yield driver
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def stepped_fake(venue: str) -> Iterator[FakeVenue]:
    """The local exchange of `venue` on a stepped clock, for a fixture to yield from."""
    exchange = start_fake(venue=venue, stepped=True)
    try:
        yield exchange
    finally:
        exchange.stop()


@pytest.fixture(params=VENUES, name="fake")
def each_venue(request: pytest.FixtureRequest) -> Iterator[FakeVenue]:
    """The local exchange of each venue in turn, on a stepped clock (a test module takes it
    by importing it)."""
    yield from stepped_fake(request.param)


# The venues whose REST facades the shared facade tests drive; OKX's answers in another
# shape (newest first, its own paging) and has its own tests (test_okx_facade.py).
FACADE_VENUES = ("binance", "bybit")


@pytest.fixture(params=FACADE_VENUES, name="fake")
def each_facade_venue(request: pytest.FixtureRequest) -> Iterator[FakeVenue]:
    """`each_venue`, of the venues whose facade exists."""
    yield from stepped_fake(request.param)


def fut_of(fake: FakeVenue, base: str = "BTC") -> str:
    return f"{fake.name}:futures:{base}/USDT:USDT:1m"


class OffsetClock:
    """The server's clock, `offset_s` off the exchange's stepped one (ahead when positive;
    its sleeps and ages are the same)."""

    def __init__(self, base: SteppedClock, offset_s: float) -> None:
        self._base, self._offset_s = base, offset_s

    def time(self) -> float:
        return self._base.time() + self._offset_s

    def monotonic(self) -> float:
        return self._base.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self._base.sleep(seconds)


def clock_of(fake: FakeVenue) -> SteppedClock:
    assert isinstance(fake.exchange.clock, SteppedClock)
    return fake.exchange.clock


@contextlib.asynccontextmanager
async def serving(settings: Settings, fake: FakeVenue) -> AsyncIterator[LiveServer]:
    """The server on the exchange's stepped clock, the clock driven meanwhile."""
    async with driven(clock_of(fake)), live_server(settings, clock_of(fake)) as s:
        yield s


def exchange_history(fake: FakeVenue, series_id: str, start: int, end: int) -> list[CandleRow]:
    """The exchange's own closed candles with start <= open time <= end: exactly what its
    REST and WebSocket faces send, as numbers."""
    series = parse_series_id(series_id)
    model = fake.exchange.pair_model(series.instrument_market, series.symbol)
    step = timeframe_seconds(series.timeframe)
    rows = []
    for t in range(start, end + 1, step):
        k = model.kline(series.timeframe, t)
        if series.market in DERIVED_PRICES:
            k = model.derived(cast(DerivedKind, series.market), k)
        rows.append((t, float(k.open), float(k.high), float(k.low), float(k.close),
                     float(k.volume)))  # fmt: skip
    return rows


async def stored(server: LiveServer, series_id: str) -> list[CandleRow]:
    r = await server.http.get("/api/market/candles", params={"series_id": series_id, "limit": 5000})
    return [
        (c["candle_time"], c["open"], c["high"], c["low"], c["close"], c["volume"])
        for c in r.json()["candles"]
    ]


async def head_of(server: LiveServer, series_id: str) -> int | None:
    r = await server.http.get("/api/market/candles", params={"series_id": series_id, "limit": 1})
    head: int | None = r.json()["server_head_time"]
    return head


def newest_closed(fake: FakeVenue) -> int:
    """Open time of the exchange's newest closed 1m candle."""
    return int(fake.exchange.clock.now()) // 60 * 60 - 60


async def wait_candles_close(fake: FakeVenue, count: int, timeout: float = 20.0) -> None:
    """Until `count` more 1m candles have closed on the exchange (while a fault acts)."""
    target = newest_closed(fake) + count * 60
    await poll(lambda: newest_closed(fake) >= target, f"{count} candles to close", timeout)


async def wait_caught_up(
    server: LiveServer, fake: FakeVenue, series_id: str, timeout: float = 20.0
) -> None:
    """Until the store's head is the exchange's newest closed candle."""

    async def caught_up() -> bool:
        head = await head_of(server, series_id)
        return head is not None and head >= newest_closed(fake)

    await poll(caught_up, f"{series_id} to catch up with the exchange", timeout)


async def wait_backfilled(server: LiveServer, series_id: str, timeout: float = 20.0) -> None:
    """Until the live series owes nothing: its backfill is done (no REST request of it in
    flight)."""

    async def owes_nothing() -> bool:
        return any(j["owed"] is None for j in await jobs_of(server, series_id))

    await poll(owes_nothing, f"{series_id} to owe nothing", timeout)


async def jobs_of(server: LiveServer, series_id: str) -> list[dict[str, Any]]:
    """The ingest jobs of `series_id`, as the debug API shows them."""
    debug = (await server.http.get("/api/market/debug/ingest_state")).json()
    return [j for j in debug["jobs"] if j["series_id"] == series_id]


async def _owed(server: LiveServer, series_id: str) -> dict[str, int] | None:
    """What a live job of `series_id` still owes (None when it owes nothing or there is
    no such job)."""
    return next((j["owed"] for j in await jobs_of(server, series_id) if j["owed"]), None)


async def assert_store_matches_exchange(
    server: LiveServer,
    fake: FakeVenue,
    series_id: str,
    since: int | None = None,
    timeout: float = 20.0,
) -> list[CandleRow]:
    """No gap, no duplicate, no wrong value: the store equals the exchange's history.

    Checked until it holds or `timeout` passes: after a fault, the REST catch-up runs beside
    the live stream, so the head can be current while the hole behind it is still being
    fetched. A live series is compared once it owes nothing: before its catch-up stores
    its first page, the streamed candles alone are a gap-free run that would pass, and the
    page landing behind them would open the hole this check is there to find. A hole that
    stays fails with what is missing."""

    async def matches() -> bool:
        if await _owed(server, series_id) is not None:
            return False
        return (await _store_vs_exchange(server, fake, series_id, since))[1] is None

    try:
        # Each check reads the whole series over HTTP: not too often.
        await poll(matches, f"{series_id} to equal the exchange", timeout, every=0.1)
    except AssertionError:  # the checks below say what is wrong
        owed = await _owed(server, series_id)
        assert owed is None, f"{series_id} still owes {owed}"
    got, problem = await _store_vs_exchange(server, fake, series_id, since)
    assert problem is None, problem
    return got


async def _store_vs_exchange(
    server: LiveServer, fake: FakeVenue, series_id: str, since: int | None
) -> tuple[list[CandleRow], str | None]:
    got = await stored(server, series_id)
    if since is not None:
        got = [c for c in got if c[0] >= since]
    if not got:
        return got, "nothing stored"
    times = [c[0] for c in got]
    if times != sorted(set(times)):
        return got, "stored times are not ascending and unique"
    expected = exchange_history(fake, series_id, got[0][0], got[-1][0])
    if got == expected:
        return got, None
    have = {c[0]: c for c in got}
    want = {c[0]: c for c in expected}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    differ = [(have[t], want[t]) for t in sorted(set(have) & set(want)) if have[t] != want[t]]
    return got, (
        f"store != exchange: {len(got)} vs {len(expected)} candles; missing {missing[:5]} "
        f"extra {extra[:5]} differ {differ[:2]}"
    )
