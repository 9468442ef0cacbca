"""CompanionKeeper: every futures contract the store holds gets the series a freqtrade
futures backtest loads beside its candles, and its open interest, kept current from the
venue.

freqtrade's futures backtest computes funding fees from the contract's funding rates and
mark prices (its `funding_fee_timeframe` and `mark_ohlcv_timeframe`, both `1h`) and fails
without them. Open interest is kept because the venues forget it (Binance after 30
days). For each contract with stored candles, every `every_s` these series are filled
from where its candles start, and what the venue has since their newest row is fetched
(under the `history` share of the venue's budget): the datadir write-through then keeps
the files a backtest needs, and the facades answer from the store. A kind the venue does
not serve over REST here is left alone (never made up from the contract's own candles).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from app.clock import Clock
from app.errors import (
    ExchangeError,
    ProvenanceConflict,
    TradeCanvasError,
    UpstreamRateLimited,
)
from app.exchanges.budget import HISTORY, on_behalf_of
from app.exchanges.registry import VenueRegistry
from app.series import (
    FUNDING_TIMEFRAME,
    MARK_TIMEFRAME,
    CandleType,
    SeriesId,
    align_time,
    parse_series_id,
    venue_timeframes,
)
from app.store import CandleStore, SeriesStats
from app.tasks import spawn

log = logging.getLogger(__name__)

# What freqtrade's futures backtest loads beside a contract's candles, at the timeframes
# it loads them at; and its open interest at the finest period venues sample it, kept for
# as long as the store lives (Binance keeps 30 days of it).
COMPANIONS: Final[tuple[tuple[CandleType, str], ...]] = (
    ("mark", MARK_TIMEFRAME),
    ("funding_rate", FUNDING_TIMEFRAME),
    ("open_interest", "5m"),
)
# A newest candle the venue did not have yet is asked for again after this (monotonic s).
TAIL_RECHECK_S: Final = 60.0

# Fetch what the venue has of `series` in `(after, until]` and store it; the venue's first
# time when that found where its history starts (the readers' fill).
Fill = Callable[[SeriesId, int, int], Awaitable[int | None]]


class CompanionKeeper:
    def __init__(
        self,
        store: CandleStore,
        venues: VenueRegistry,
        fill: Fill,
        clock: Clock,
        *,
        every_s: float,
    ) -> None:
        self._store = store
        self._venues = venues
        self._fill = fill
        self._clock = clock
        self._every_s = every_s
        # Per companion series, how far back it was filled (asked again only when its
        # contract's candles reach further back).
        self._reached: dict[str, int] = {}
        # Per companion candle series, the newest close last asked for, and when.
        self._tail_asked: dict[str, tuple[int, float]] = {}
        # Why a companion could not be kept current when last asked, by series.
        self._failing: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn(self._run(), "futures companion keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.keep()
            except TradeCanvasError as e:  # the store now: tried again later
                log.warning("keeping futures companions: %s (again in %g s)", e, self._every_s)
            except Exception:  # one bad moment must not end the keeping
                log.exception("keeping futures companions failed (again in %g s)", self._every_s)
            await self._clock.sleep(self._every_s)

    async def keep(self) -> None:
        """One look over every stored contract's companions."""
        stored = {s.series_id: s for s in await self._store.list_series()}
        for companion, since in self._wanted(stored.values()):
            key = str(companion)
            try:
                with on_behalf_of(HISTORY):
                    await self._keep(companion, since, stored.get(key))
            except UpstreamRateLimited as e:
                log.info("keeping futures companions paused: %s", e)
                return
            except (ExchangeError, ProvenanceConflict) as e:
                # Its venue now (an outage, a delisted contract), or a store another source
                # owns: said once per cause, asked again next round.
                if self._failing.get(key) != str(e):
                    log.info("cannot keep %s current now: %s", key, e)
                self._failing[key] = str(e)
            else:
                self._failing.pop(key, None)

    def _wanted(self, stored: Iterable[SeriesStats]) -> list[tuple[SeriesId, int]]:
        """Each companion series the venues serve, and where its contract's candles start."""
        starts: dict[tuple[str, str], int] = {}
        for stats in stored:
            try:
                series = parse_series_id(stats.series_id)
            except TradeCanvasError:
                continue
            if series.market != "futures" or stats.first_time is None:
                continue
            contract = (series.exchange, series.symbol)
            starts[contract] = min(stats.first_time, starts.get(contract, stats.first_time))
        wanted = []
        for (exchange, symbol), first in sorted(starts.items()):
            for market, timeframe in COMPANIONS:
                companion = SeriesId(exchange, market, symbol, timeframe)
                if timeframe in venue_timeframes(exchange) and self._venues.fetches(companion):
                    wanted.append((companion, align_time(first, timeframe)))
        return wanted

    async def _keep(self, companion: SeriesId, since: int, stats: SeriesStats | None) -> None:
        key = str(companion)
        newest = companion.newest_at(int(self._clock.time()))
        if stats is None or stats.head_time is None or stats.first_time is None:
            await self._fill(companion, since - 1, newest)
            self._reached[key] = since
            return
        if stats.first_time > since and self._reached.get(key, stats.first_time) > since:
            await self._fill(companion, since - 1, stats.first_time - 1)
            self._reached[key] = since
        if stats.head_time >= newest:
            return
        if not companion.events:  # (events: the fill knows when a new one can have come)
            asked = self._tail_asked.get(key)
            moment = self._clock.monotonic()
            if asked is not None and asked[0] == newest and moment - asked[1] < TAIL_RECHECK_S:
                return
            self._tail_asked[key] = (newest, moment)
        await self._fill(companion, stats.head_time, newest)
