"""A venue's REST API as everything in this server reaches it: one limiter per venue and
one proxy for the requests the facades forward.

The limiter is shared by every caller (the facades, backfill, market lists): it reads the
weight or quota the venue reports on each answer, stops asking before the configured budget
is spent (until the venue's window turns), and after a ban (Binance's 429/418, Bybit's 403)
asks nothing until the venue's `Retry-After` has passed. Meanwhile callers get
`UpstreamRateLimited` at once, which a facade answers with the venue's own 429.

The proxy answers identical GETs within `cache_s` from one upstream call, and coalesces
identical requests in flight: ten bots asking for the same ticker in the same second cost
one request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

import httpx
from prometheus_client import Counter

from app.clock import Clock
from app.errors import ExchangeError, UpstreamRateLimited
from app.metrics import Metrics
from app.redact import safe_url, without_secrets
from app.tasks import spawn

log = logging.getLogger(__name__)

# Cached answers kept at most; older ones go first.
MAX_CACHED: Final = 4_096


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
            "trade_canvas_upstream_requests", "REST requests made to a venue, by caller.",
            ["venue", "caller"], registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "trade_canvas_upstream_refused",
            "Requests not sent to a venue because of a ban or a spent budget.",
            ["venue"], registry=r,
        )  # fmt: skip
        self.bans = Counter(
            "trade_canvas_upstream_bans", "Bans (429/418, Bybit's 403) seen from a venue.",
            ["venue"], registry=r,
        )  # fmt: skip
        self.weight = Counter(
            "trade_canvas_upstream_weight",
            "Request weight the venue reported used (summed over its windows).",
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


class UpstreamLimiter:
    def __init__(
        self, venue: str, policy: RatePolicy, clock: Clock, metrics: UpstreamMetrics
    ) -> None:
        self.venue = venue
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self.state = LimiterState()

    def wait_s(self) -> float:
        """How long the venue must not be asked (0: it may be)."""
        return max(0.0, self.state.blocked_until - self._clock.monotonic())

    def check(self, caller: str) -> None:
        """Raise `UpstreamRateLimited` while the venue must not be asked; else count one
        request by `caller` (`facade`, `rest`)."""
        wait = self.wait_s()
        if wait > 0:
            self._metrics.refused.labels(self.venue).inc()
            raise UpstreamRateLimited(
                f"{self.venue} {self.state.reason}; not asking it for {wait:.0f}s more", wait
            )
        self._metrics.requests.labels(self.venue, caller).inc()

    def observe(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
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
            self._metrics.weight.labels(self.venue).inc(weight)
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
        }


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    cached: bool = False  # answered from the cache, not by the venue just now


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


class UpstreamProxy:
    """Forwarded GETs of one venue, within its limiter, cached for `cache_s`."""

    def __init__(
        self, limiter: UpstreamLimiter, clock: Clock, *, cache_s: float, timeout_s: float
    ) -> None:
        self._limiter = limiter
        self._clock = clock
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[_Key, _Cached] = {}
        self._inflight: dict[_Key, asyncio.Future[Answer]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        self.stats = ProxyStats()

    async def get(
        self, url: str, params: Sequence[tuple[str, str]], *, document_s: float | None = None
    ) -> Answer:
        """The venue's answer to `GET url?params` (any status). Raises
        `UpstreamRateLimited` during a ban, `ExchangeError` when it cannot be reached.

        A `document` (a market list) is kept `document_s`; past that it is still answered
        at once while a fresh copy is fetched in the background."""
        key = (url, tuple(sorted(params)))
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None:
            age = now - cached.at
            if age < (self._cache_s if document_s is None else document_s):
                self.stats.cached += 1
                return cached.answer
            if document_s is not None:
                self.stats.cached += 1
                self._refresh(url, key)
                return cached.answer
        return await self._upstream(url, key)

    def _refresh(self, url: str, key: _Key) -> None:
        if key in self._inflight or self._limiter.wait_s() > 0:
            return
        task = spawn(
            self._refresh_quietly(url, key), f"{self._limiter.venue} refresh {safe_url(url)}"
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh_quietly(self, url: str, key: _Key) -> None:
        try:
            await self._upstream(url, key)
        except ExchangeError as e:  # the stale copy keeps being answered
            log.info("refreshing %s failed: %s", safe_url(url), e)

    async def _upstream(self, url: str, key: _Key) -> Answer:
        running = self._inflight.get(key)
        if running is not None:
            self.stats.coalesced += 1
            return await asyncio.shield(running)
        self._limiter.check("facade")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await self._fetch(url, key[1])
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: a failure nobody else awaited is not "unretrieved"
            raise
        finally:
            del self._inflight[key]
        future.set_result(answer)
        self.stats.upstream += 1
        if answer.status == 200:
            now = self._clock.monotonic()
            if len(self._cache) >= MAX_CACHED:
                self._prune(now)
            self._cache[key] = _Cached(replace(answer, cached=True), now)
        return answer

    async def _fetch(self, url: str, params: tuple[tuple[str, str], ...]) -> Answer:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        try:
            response = await self._client.get(url, params=list(params))
        except httpx.HTTPError as e:
            raise ExchangeError(
                f"{self._limiter.venue} GET {safe_url(url)} failed: {without_secrets(repr(e), url)}"
            ) from e
        body = response.content
        self._limiter.observe(response.status_code, response.headers, body)
        return Answer(
            response.status_code,
            body,
            response.headers.get("content-type", "application/json"),
        )

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._cache.items() if now - v.at >= self._cache_s]
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
