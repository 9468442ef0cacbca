"""A venue's REST API as everything in this server reaches it: one limiter per venue and
one proxy for the requests the facades forward.

The limiter is shared by every caller (the facades, backfill, history, market lists): each
request's weight is spent from the venue's budget before it is sent (`budget.py`: who may
spend what, and how long one waits for room), and each answer corrects the count (the
weight the venue reports) or tells of a ban (Binance's 429/418, Bybit's 403, OKX's 50011),
after which nothing is asked until the venue's `Retry-After` has passed. Meanwhile callers
get `UpstreamRateLimited` at once, which a facade answers with the venue's own 429.

The proxy answers identical GETs within `cache_s` from one upstream call, and coalesces
identical requests in flight: ten bots asking for the same ticker in the same second cost
one request. When the budget has no room for a fresh copy now, a copy up to `stale_s` old
is answered instead of a 429, its `Age` said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Final, Protocol

import httpx
from prometheus_client import Counter, Gauge

from app.clock import Clock
from app.config import Settings
from app.errors import ExchangeError, UpstreamRateLimited
from app.exchanges.budget import Caller, Cost, Pool, Shares, UpstreamBudget, current_caller
from app.metrics import Metrics
from app.redact import safe_url, without_secrets
from app.single_flight import SingleFlight
from app.tasks import spawn

log = logging.getLogger(__name__)

# Cached answers kept at most; older ones go first.
MAX_CACHED: Final = 4_096
# Until when the request this task answers may wait for room in budgets (its first wait
# sets it; a task answers one request).
_request_deadline: ContextVar[float | None] = ContextVar("upstream_deadline", default=None)


class RatePolicy(Protocol):
    """How one venue says it is rate-limiting: adapters implement this."""

    def ban_s(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        """Seconds the venue refuses this server for, when the answer says it is banned (0
        when it does not say how long); None when the answer is no ban. Headers are keyed
        in lower case."""

    def budget_wait_s(self, headers: Mapping[str, str], now: float) -> float | None:
        """Seconds until the venue's window turns, when its answer shows the budget spent."""

    def weight(self, headers: Mapping[str, str]) -> float | None:
        """The weight used so far in the venue's window, as it reports it (for metrics)."""


class UpstreamMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.requests = Counter(
            "trade_canvas_upstream_requests",
            "REST requests sent to a venue, by on whose behalf (live, client, history).",
            ["venue", "caller"], registry=r,
        )  # fmt: skip
        self.weight_spent = Counter(
            "trade_canvas_upstream_weight_spent",
            "Request weight spent from a venue's budget before sending, by pool and caller.",
            ["venue", "pool", "caller"], registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "trade_canvas_upstream_refused",
            "Requests not sent to a venue, by why: a ban, or no room in the budget.",
            ["venue", "reason"], registry=r,
        )  # fmt: skip
        self.bans = Counter(
            "trade_canvas_upstream_bans", "Bans (429/418, Bybit's 403) seen from a venue.",
            ["venue"], registry=r,
        )  # fmt: skip
        self.reported_weight = Gauge(
            "trade_canvas_upstream_reported_weight",
            "The weight a venue last reported used in its window (Binance).",
            ["venue"], registry=r,
        )  # fmt: skip


# A ban whose length the venue does not say: waited out, doubling while bans repeat.
UNSAID_BAN_FIRST_S: Final = 30.0
UNSAID_BAN_MAX_S: Final = 600.0  # Bybit's IP ban lasts 10 minutes


@dataclass(slots=True)
class LimiterState:
    blocked_until: float = 0.0  # monotonic
    reason: str = ""
    bans: int = 0
    last_weight: float | None = None
    unsaid_ban_s: float = UNSAID_BAN_FIRST_S


@dataclass(frozen=True, slots=True)
class Sent:
    """A request counted as sent: the pool it was spent from, and in which of its windows."""

    pool: str
    window: float


class UpstreamLimiter:
    def __init__(
        self,
        venue: str,
        policy: RatePolicy,
        budget: UpstreamBudget,
        cost_of: Callable[[str], Cost],
        clock: Clock,
        metrics: UpstreamMetrics,
    ) -> None:
        self.venue = venue
        self._policy = policy
        self.budget = budget
        self.cost_of = cost_of  # the cost of a request to a URL of the venue's
        self._clock = clock
        self._metrics = metrics
        self.state = LimiterState()
        self._client_wait_s = budget.client_wait_s

    def wait_s(self) -> float:
        """How long the venue must not be asked (0: it may be)."""
        return max(0.0, self.state.blocked_until - self._clock.monotonic())

    @contextlib.asynccontextmanager
    async def sending(self, cost: Cost, caller: Caller | None = None) -> AsyncIterator[Sent]:
        """Spend `cost` for `caller` (by default, whoever the running task asks for) and
        send within; raises `UpstreamRateLimited` during a ban, or when the budget has no
        room for it soon enough (a client waits `client_wait_s` at most; live ingest and
        history two of the pool's windows)."""
        caller = caller or current_caller()
        with self.budget.holding(caller):
            await self._admit(cost, caller)
            window = self.budget.spend(cost, caller)
            self._metrics.requests.labels(self.venue, caller.kind).inc()
            self._metrics.weight_spent.labels(self.venue, cost.pool, caller.kind).inc(cost.weight)
            yield Sent(cost.pool, window)

    async def _admit(self, cost: Cost, caller: Caller) -> None:
        window_s = self.budget.window_s(cost.pool)
        most_s = self._client_wait_s if caller.kind == "client" else 2 * window_s
        deadline = self._clock.monotonic() + most_s
        if caller.kind != "live":
            # One wait for everything a request of a client (or of a download) sends, as
            # its client waits for the whole answer (a window may take several pages).
            deadline = _request_deadline.get() or deadline
            _request_deadline.set(deadline)
        while True:
            ban = self.wait_s()
            if ban > 0:
                self._metrics.refused.labels(self.venue, "ban").inc()
                raise UpstreamRateLimited(
                    f"{self.venue} {self.state.reason}; not asking it for {ban:.0f}s more", ban
                )
            room_in = self.budget.room_in(cost, caller)
            if room_in <= 0:
                return
            now = self._clock.monotonic()
            if now + room_in > deadline:
                self._metrics.refused.labels(self.venue, "budget").inc()
                retry = room_in if room_in != float("inf") else window_s
                raise UpstreamRateLimited(
                    f"{self.venue}'s {cost.pool} budget has no room for {cost.weight:g} "
                    f"weight of {caller} for {retry:.0f}s",
                    retry,
                )
            await self._clock.sleep(room_in)

    def observe(
        self, status: int, headers: Mapping[str, str], body: bytes, sent: Sent | None
    ) -> None:
        """What one answer says of the venue's limits."""
        now = self._clock.monotonic()
        lower = {k.lower(): v for k, v in headers.items()}
        ban = self._policy.ban_s(status, lower, body)
        if ban is not None:
            if ban <= 0:
                ban = self.state.unsaid_ban_s
                self.state.unsaid_ban_s = min(UNSAID_BAN_MAX_S, ban * 2)
            self.state.bans += 1
            self._metrics.bans.labels(self.venue).inc()
            self._block(now + ban, f"banned this server (HTTP {status})", replace=True)
            log.warning("%s banned this server for %.0fs (HTTP %d)", self.venue, ban, status)
            return
        if status < 400:
            self.state.unsaid_ban_s = UNSAID_BAN_FIRST_S
        weight = self._policy.weight(lower)
        if weight is not None:
            self.state.last_weight = weight
            self._metrics.reported_weight.labels(self.venue).set(weight)
            if sent is not None:
                self.budget.reported(sent.pool, weight, sent.window)
        wait = self._policy.budget_wait_s(lower, self._clock.time())
        if wait is not None:
            self._block(now + wait, "request budget is spent for this window")

    def _block(self, until: float, reason: str, *, replace: bool = False) -> None:
        if replace or until > self.state.blocked_until:
            self.state.blocked_until, self.state.reason = until, reason

    def snapshot(self) -> dict[str, object]:
        wait = self.wait_s()
        return {
            "blocked_for_s": round(wait, 1),
            "reason": self.state.reason if wait > 0 else None,
            "bans": self.state.bans,
            "last_weight": self.state.last_weight,
            "budget": self.budget.snapshot(),
        }


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    cached: bool = False  # answered from the cache, not by the venue just now
    age_s: float = 0.0  # how long ago the venue gave it (a cached answer)


_Key = tuple[str, tuple[tuple[str, str], ...]]  # (url, sorted params)


@dataclass(slots=True)
class _Cached:
    answer: Answer
    at: float


@dataclass(slots=True)
class ProxyStats:
    upstream: int = 0
    cached: int = 0
    coalesced: int = 0
    stale: int = 0


class UpstreamProxy:
    """Forwarded GETs of one venue, within its limiter, cached for `cache_s`."""

    def __init__(
        self, limiter: UpstreamLimiter, clock: Clock, *, cache_s: float, stale_s: float,
        timeout_s: float,
    ) -> None:  # fmt: skip
        self._limiter = limiter
        self._clock = clock
        self._cache_s = cache_s
        self._stale_s = max(stale_s, cache_s)
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[_Key, _Cached] = {}
        self._inflight: SingleFlight[_Key, Answer] = SingleFlight()
        self._refreshing: set[asyncio.Task[None]] = set()
        self.stats = ProxyStats()

    async def get(
        self, url: str, params: Sequence[tuple[str, str]], cost: Cost, *,
        document_s: float | None = None,
    ) -> Answer:  # fmt: skip
        """The venue's answer to `GET url?params` (any status), `params` as they key the
        cache (each venue's documented ones, normalised). Raises `UpstreamRateLimited`
        during a ban or when the budget has no room (and no copy is young enough),
        `ExchangeError` when the venue cannot be reached.

        A `document` (a market list) is kept `document_s`; past that it is still answered
        at once while a fresh copy is fetched in the background."""
        key = (url, tuple(sorted(params)))
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None:
            age = now - cached.at
            if age < (self._cache_s if document_s is None else document_s):
                self.stats.cached += 1
                return replace(cached.answer, age_s=age)
            if document_s is not None:
                self.stats.cached += 1
                self._refresh(url, key, cost)
                return replace(cached.answer, age_s=age)
        try:
            return await self._upstream(url, key, cost)
        except UpstreamRateLimited:
            # No room for a fresh copy now: a young enough one beats a 429.
            kept = self._cache.get(key)
            if kept is None or self._clock.monotonic() - kept.at >= self._stale_s:
                raise
            self.stats.stale += 1
            return replace(kept.answer, age_s=self._clock.monotonic() - kept.at)

    def _refresh(self, url: str, key: _Key, cost: Cost) -> None:
        if key in self._inflight or self._limiter.wait_s() > 0:
            return
        task = spawn(
            self._refresh_quietly(url, key, cost),
            f"{self._limiter.venue} refresh {safe_url(url)}",
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh_quietly(self, url: str, key: _Key, cost: Cost) -> None:
        try:
            await self._upstream(url, key, cost)
        except ExchangeError as e:  # the stale copy keeps being answered
            log.info("refreshing %s failed: %s", safe_url(url), e)

    async def _upstream(self, url: str, key: _Key, cost: Cost) -> Answer:
        if key in self._inflight:
            self.stats.coalesced += 1
        return await self._inflight.run(key, lambda: self._send(url, key, cost))

    async def _send(self, url: str, key: _Key, cost: Cost) -> Answer:
        async with self._limiter.sending(cost) as sent:
            answer = await self._fetch(url, key[1], sent)
        self.stats.upstream += 1
        if answer.status == 200:
            now = self._clock.monotonic()
            if len(self._cache) >= MAX_CACHED:
                self._prune(now)
            self._cache[key] = _Cached(replace(answer, cached=True), now)
        return answer

    async def _fetch(self, url: str, params: tuple[tuple[str, str], ...], sent: Sent) -> Answer:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        try:
            response = await self._client.get(url, params=list(params))
        except httpx.HTTPError as e:
            raise ExchangeError(
                f"{self._limiter.venue} GET {safe_url(url)} failed: {without_secrets(repr(e), url)}"
            ) from e
        body = response.content
        self._limiter.observe(response.status_code, response.headers, body, sent)
        return Answer(
            response.status_code,
            body,
            response.headers.get("content-type", "application/json"),
        )

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._cache.items() if now - v.at >= self._stale_s]
        for key in stale:
            del self._cache[key]
        while len(self._cache) >= MAX_CACHED:
            del self._cache[next(iter(self._cache))]

    async def close(self) -> None:
        for task in list(self._refreshing):
            task.cancel()
        await asyncio.gather(*self._refreshing, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def venue_upstream(
    venue: str, policy: RatePolicy, pools: tuple[Pool, ...], cost_of: Callable[[str], Cost],
    settings: Settings, clock: Clock, metrics: UpstreamMetrics,
) -> tuple[UpstreamLimiter, UpstreamProxy]:  # fmt: skip
    """A venue's limiter over its `pools`, shared as the settings say, and its proxy."""
    u = settings.upstream
    shares = Shares(u.reserve_share, u.history_share, u.client_share, u.client_inflight_max,
                    u.client_wait_s)  # fmt: skip
    limiter = UpstreamLimiter(
        venue, policy, UpstreamBudget(pools, shares, clock), cost_of, clock, metrics
    )
    proxy = UpstreamProxy(
        limiter, clock, cache_s=settings.facade.cache_s, stale_s=settings.facade.stale_s,
        timeout_s=10.0,
    )  # fmt: skip
    return limiter, proxy
