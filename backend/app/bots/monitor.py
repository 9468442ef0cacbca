"""Each bot read at most once per `BOT_POLL_S`, whoever asks: every open chart shares the
last answer, and concurrent askers wait for the one poll in flight. A poll is bounded by
`BOT_TIMEOUT_S`; a bot that fails keeps what it last said, marked with why it is stale."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

import httpx
from prometheus_client import Counter

from app.bots.client import BotBadAnswer, BotDown, BotError, FreqtradeClient
from app.bots.config import BotConfig
from app.bots.model import (
    BotSnapshot,
    BotTrade,
    PlotLine,
    indicator_points,
    parse_info,
    parse_plot_config,
    parse_trades,
)
from app.clock import Clock
from app.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

TRADES_PAGE = 500
# Closed trades kept per bot (the newest): markers beyond these are too old to matter.
MAX_CLOSED_TRADES = 5_000
# Analysed dataframes kept per bot, one per pair and timeframe on some chart.
MAX_DATAFRAMES = 32

Points = dict[str, list[tuple[int, float]]]


class BotMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.requests = Counter(
            "trade_canvas_bot_requests",
            "Requests to the users' freqtrade bots, by bot, endpoint and outcome.",
            ["bot", "endpoint", "outcome"],
            registry=metrics.registry,
        )


class BotMonitor:
    def __init__(
        self,
        config: BotConfig,
        client: FreqtradeClient,
        metrics: BotMetrics,
        clock: Clock,
        *,
        poll_s: float,
        timeout_s: float,
        max_open_trades: int,
    ) -> None:
        self.name = config.name
        self._url = config.url
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._poll_s = poll_s
        self._timeout_s = timeout_s
        self._max_open_trades = max_open_trades
        self._lock = asyncio.Lock()
        self._snapshot: BotSnapshot | None = None
        self._polled_at = -float("inf")  # monotonic
        self._closed: dict[int, BotTrade] = {}
        self._plot: tuple[str, tuple[PlotLine, ...]] | None = None  # per strategy
        self._frames: OrderedDict[tuple[str, str], tuple[float, Points]] = OrderedDict()
        self._frame_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._last_problem: str | None = None

    async def snapshot(self) -> BotSnapshot:
        if self._fresh(self._polled_at) and self._snapshot is not None:
            return self._snapshot
        async with self._lock:
            if not self._fresh(self._polled_at) or self._snapshot is None:
                self._snapshot = await self._poll()
                self._polled_at = self._clock.monotonic()
            return self._snapshot

    async def indicators(self, pair: str, timeframe: str, columns: Sequence[str]) -> Points:
        """The plot_config columns of the bot's analysed dataframe for `pair`."""
        key = (pair, timeframe)
        cached = self._frames.get(key)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        lock = self._frame_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._frames.get(key)
            if cached is None or not self._fresh(cached[0]):
                async with self._bounded():
                    raw = await self._call(
                        "pair_candles", self._client.pair_candles(pair, timeframe)
                    )
                # A dataframe of thousands of rows: read off the event loop.
                points = await asyncio.to_thread(indicator_points, raw, list(columns))
                cached = (self._clock.monotonic(), points)
                self._frames[key] = cached
                self._frames.move_to_end(key)
                while len(self._frames) > MAX_DATAFRAMES:
                    old, _ = self._frames.popitem(last=False)
                    self._frame_locks.pop(old, None)
            return cached[1]

    @contextlib.asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        """A poll or a dataframe read that outlasts `BOT_TIMEOUT_S` is the bot being down."""
        try:
            async with asyncio.timeout(self._timeout_s):
                yield
        except TimeoutError as e:
            raise BotDown(f"no answer within {self._timeout_s:g} s") from e

    def _fresh(self, at: float) -> bool:
        return self._clock.monotonic() - at < self._poll_s

    async def _poll(self) -> BotSnapshot:
        now = self._clock.time()
        try:
            async with self._bounded():
                info = parse_info(await self._call("show_config", self._client.show_config()))
                open_rows = await self._call("status", self._client.open_trades())
                if len(open_rows) > self._max_open_trades:
                    raise BotBadAnswer(
                        f"it reports {len(open_rows)} open trades, more than the "
                        f"{self._max_open_trades} read (BOT_MAX_OPEN_TRADES)"
                    )
                open_trades = await asyncio.to_thread(parse_trades, open_rows)
                await self._read_closed_trades()
                plot = await self._plot_config(info.strategy)
        except BotError as e:
            self._note_problem(f"{e.problem}: {e.reason}")
            last = self._snapshot or BotSnapshot(self.name, self._url, e.problem, e.reason, now)
            return replace(last, state=e.problem, reason=e.reason, checked_at=now)
        self._note_problem(None)
        closed = sorted(self._closed.values(), key=lambda t: t.close_time or t.open_time)
        return BotSnapshot(
            self.name, self._url, "ok", None, now, info, tuple(open_trades), tuple(closed), plot
        )

    async def _read_closed_trades(self) -> None:
        """Only what closed since the last poll: pages, newest close first, until one holds
        a trade already known."""
        offset = 0
        while True:
            page = await self._call("trades", self._client.closed_trades(offset, TRADES_PAGE))
            rows = page.get("trades")
            trades = parse_trades(rows if isinstance(rows, list) else [])
            total = page.get("total_trades")
            if offset == 0 and isinstance(total, int) and total < len(self._closed):
                self._closed.clear()  # trades were deleted on the bot: start over
            known = sum(1 for t in trades if t.trade_id in self._closed)
            self._closed.update((t.trade_id, t) for t in trades)
            if known or len(trades) < TRADES_PAGE or len(self._closed) >= MAX_CLOSED_TRADES:
                break
            offset += TRADES_PAGE
        if len(self._closed) > MAX_CLOSED_TRADES:
            newest = sorted(self._closed.values(), key=lambda t: t.close_time or 0)
            self._closed = {t.trade_id: t for t in newest[-MAX_CLOSED_TRADES:]}

    async def _plot_config(self, strategy: str) -> tuple[PlotLine, ...]:
        if self._plot is None or self._plot[0] != strategy:
            raw = await self._call("plot_config", self._client.plot_config())
            self._plot = (strategy, parse_plot_config(raw))
        return self._plot[1]

    async def _call(self, endpoint: str, call: Awaitable[T]) -> T:
        try:
            result = await call
        except BotError as e:
            self._metrics.requests.labels(self.name, endpoint, e.problem).inc()
            raise
        self._metrics.requests.labels(self.name, endpoint, "ok").inc()
        return result

    def _note_problem(self, problem: str | None) -> None:
        """Log a bot going wrong and coming back once each, not on every poll."""
        if problem == self._last_problem:
            return
        if problem is not None:
            log.warning("bot %s (%s): %s", self.name, self._url, problem)
        elif self._last_problem is not None:
            log.warning("bot %s (%s) answers again", self.name, self._url)
        self._last_problem = problem


class BotBoard:
    """Every configured bot, by name, and the HTTP client they share."""

    def __init__(self, monitors: Sequence[BotMonitor], http: httpx.AsyncClient) -> None:
        self._monitors: Mapping[str, BotMonitor] = {m.name: m for m in monitors}
        self._http = http

    @classmethod
    def build(
        cls,
        configs: Sequence[BotConfig],
        metrics: Metrics,
        clock: Clock,
        *,
        poll_s: float,
        timeout_s: float,
        max_bytes: int,
        max_open_trades: int,
    ) -> BotBoard:
        # The bots' addresses are the user's own: never a proxy from the environment. Idle
        # connections go after 2 s, before the bot's uvicorn drops them (5 s): a poll every
        # 5 s would otherwise now and then leave on a connection being closed.
        http = httpx.AsyncClient(
            trust_env=False, follow_redirects=False, limits=httpx.Limits(keepalive_expiry=2.0)
        )
        bot_metrics = BotMetrics(metrics)
        monitors = [
            BotMonitor(
                config, FreqtradeClient(config, http, timeout_s, max_bytes), bot_metrics, clock,
                poll_s=poll_s, timeout_s=timeout_s, max_open_trades=max_open_trades,
            )
            for config in configs
        ]  # fmt: skip
        return cls(monitors, http)

    async def close(self) -> None:
        await self._http.aclose()

    def __bool__(self) -> bool:
        return bool(self._monitors)

    def get(self, name: str) -> BotMonitor | None:
        return self._monitors.get(name)

    async def snapshots(self) -> list[BotSnapshot]:
        return list(await asyncio.gather(*(m.snapshot() for m in self._monitors.values())))
