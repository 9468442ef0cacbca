"""The upstream budget: request weight is spent before a request is sent, never learnt from
answers only (forty requests sent at once would all have gone out).

A venue limits a client by pools: Binance counts weight per calendar minute on each host
(spot and USDT-M apart), Bybit requests per 5 s per IP, OKX requests per 2 s per endpoint.
A request's `Cost` names its pool and weight (each venue's `limits.py` knows them); it is
admitted only if its weight fits what the pool has left, counting every request already
sent in the window (in flight or answered), else it waits a bounded time for the window
to turn or is refused with how long until it could go.

Who asks decides how much of a pool is theirs (`Shares`):
- `live` (live ingest's backfills and catch-ups, market lists): the whole pool; a reserve
  of it no one else may take.
- `client` (a facade request, on behalf of one client address): together, what the
  reserve leaves; each address at most its own share, and a bounded number of requests
  waiting or in flight.
- `history` (background history downloads): at most their share, within what the reserve
  leaves, so they never delay live ingest or the facades' answers.

Who asks is carried by the task (`on_behalf_of`), not by every call in between: the facades
set it for the request they answer, background tasks start as `live`."""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, Literal

from app.clock import Clock
from app.errors import UpstreamRateLimited

CallerKind = Literal["live", "client", "history"]
# Client addresses whose shares are remembered; the least recently seen is forgotten.
MAX_CLIENTS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Caller:
    """On whose behalf a request to a venue is made."""

    kind: CallerKind
    address: str = ""  # a client's address (kind `client`)

    def __str__(self) -> str:
        return f"client {self.address}" if self.kind == "client" else self.kind


LIVE: Final = Caller("live")
HISTORY: Final = Caller("history")
# The header this server's own history downloads name themselves with (to its facades),
# its value the process's secret token.
CALLER_HEADER: Final = "X-Trade-Canvas-Caller"

_caller: ContextVar[Caller] = ContextVar("upstream_caller", default=LIVE)


def current_caller() -> Caller:
    return _caller.get()


@contextlib.contextmanager
def on_behalf_of(caller: Caller) -> Iterator[None]:
    """Every upstream request made within (in this task) is charged to `caller`."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


@dataclass(frozen=True, slots=True)
class Pool:
    """One limit a venue keeps: `capacity` weight per `window_s`, on the calendar's windows
    (Binance's minute) or on a rolling one."""

    name: str
    capacity: float
    window_s: float
    aligned: bool = False


@dataclass(frozen=True, slots=True)
class Cost:
    pool: str
    weight: float


@dataclass(frozen=True, slots=True)
class Shares:
    reserve: float  # of each pool, kept for live ingest
    history: float  # of each pool, the most background history may use
    client: float  # of each pool, the most one client address may use
    client_inflight: int  # requests one address may have waiting or in flight
    client_wait_s: float  # how long a client's request may wait for room


class _Window:
    """Weight spent in a pool's current window (aligned) or its last `window_s` seconds."""

    __slots__ = ("_aligned", "_events", "_span", "_start", "_used")

    def __init__(self, window_s: float, aligned: bool) -> None:
        self._span = window_s
        self._aligned = aligned
        self._start = -math.inf
        self._used = 0.0
        self._events: deque[tuple[float, float]] = deque()

    def used(self, now: float) -> float:
        if self._aligned:
            start = now - now % self._span
            if start != self._start:
                self._start, self._used = start, 0.0
            return self._used
        while self._events and self._events[0][0] <= now - self._span:
            self._used -= self._events.popleft()[1]
        if not self._events:
            self._used = 0.0  # no float residue
        return self._used

    def add(self, now: float, weight: float) -> None:
        self.used(now)
        self._used += weight
        if not self._aligned:
            self._events.append((now, weight))

    def at_least(self, now: float, used: float) -> None:
        """The venue says more was used in this window than counted here."""
        if used > self.used(now):
            if not self._aligned:
                self._events.append((now, used - self._used))
            self._used = used

    def room_in(self, now: float, weight: float, cap: float) -> float:
        """Seconds until `weight` more fits under `cap` (0: now; inf: never)."""
        if weight > cap:
            return math.inf
        if self.used(now) + weight <= cap:
            return 0.0
        if self._aligned:
            return self._start + self._span - now
        used = self._used
        for at, spent in self._events:
            used -= spent
            if used + weight <= cap:
                return max(0.0, at + self._span - now)
        return self._span

    def window_id(self, now: float) -> float:
        self.used(now)
        return self._start if self._aligned else 0.0


@dataclass(slots=True)
class _PoolState:
    pool: Pool
    total: _Window
    history: _Window
    clients: OrderedDict[str, _Window] = field(default_factory=OrderedDict)


class UpstreamBudget:
    """One venue's pools, and who has spent what of them."""

    def __init__(self, pools: tuple[Pool, ...], shares: Shares, clock: Clock) -> None:
        self._pools = {
            p.name: _PoolState(p, _Window(p.window_s, p.aligned), _Window(p.window_s, p.aligned))
            for p in pools
        }
        self._shares = shares
        self._clock = clock
        self._inflight: dict[str, int] = {}

    @property
    def client_wait_s(self) -> float:
        return self._shares.client_wait_s

    def window_s(self, pool: str) -> float:
        return self._pools[pool].pool.window_s

    @contextlib.contextmanager
    def holding(self, caller: Caller) -> Iterator[None]:
        """One request of `caller` waiting or in flight; a client over its cap is refused
        at once (`UpstreamRateLimited`)."""
        if caller.kind != "client":
            yield
            return
        held = self._inflight.get(caller.address, 0)
        if held >= self._shares.client_inflight:
            raise UpstreamRateLimited(
                f"{caller} has {held} requests to this venue under way already", 1.0
            )
        self._inflight[caller.address] = held + 1
        try:
            yield
        finally:
            left = self._inflight[caller.address] - 1
            if left:
                self._inflight[caller.address] = left
            else:
                del self._inflight[caller.address]

    def room_in(self, cost: Cost, caller: Caller) -> float:
        """Seconds until `cost` may be spent for `caller` (0: now; inf: never)."""
        state = self._pools[cost.pool]
        cap, now = state.pool.capacity, self._now(state.pool)
        if caller.kind == "live":
            return state.total.room_in(now, cost.weight, cap)
        shared = cap * (1.0 - self._shares.reserve)
        own = self._own(state, caller, create=False)
        own_cap = cap * (self._shares.history if caller.kind == "history" else self._shares.client)
        wait = state.total.room_in(now, cost.weight, shared)
        if own is not None:
            wait = max(wait, own.room_in(now, cost.weight, own_cap))
        elif cost.weight > own_cap:
            wait = math.inf
        return wait

    def spend(self, cost: Cost, caller: Caller) -> float:
        """Count `cost` as sent for `caller` (after `room_in` said 0); returns the window it
        was spent in, for `reported`."""
        state = self._pools[cost.pool]
        now = self._now(state.pool)
        state.total.add(now, cost.weight)
        own = self._own(state, caller, create=True)
        if own is not None:
            own.add(now, cost.weight)
        return state.total.window_id(now)

    def reported(self, pool: str, used: float, window: float) -> None:
        """The venue's own count of what was used in the window a request was sent in: it
        corrects ours upwards (another program on this IP, weights counted differently)."""
        state = self._pools.get(pool)
        if state is None:
            return
        now = self._now(state.pool)
        if state.total.window_id(now) == window:
            state.total.at_least(now, used)

    def _now(self, pool: Pool) -> float:
        # A calendar window (Binance's minute) turns by the wall clock.
        return self._clock.time() if pool.aligned else self._clock.monotonic()

    def _own(self, state: _PoolState, caller: Caller, *, create: bool) -> _Window | None:
        if caller.kind == "history":
            return state.history
        if caller.kind != "client":
            return None
        window = state.clients.get(caller.address)
        if window is not None:
            state.clients.move_to_end(caller.address)
        elif create:
            window = state.clients[caller.address] = _Window(
                state.pool.window_s, state.pool.aligned
            )
            if len(state.clients) > MAX_CLIENTS:
                state.clients.popitem(last=False)
        return window

    def snapshot(self) -> dict[str, dict[str, float]]:
        """What each pool has spent of its capacity in its window, for `ingest_state`."""
        return {
            name: {
                "used": round(s.total.used(self._now(s.pool)), 1),
                "capacity": s.pool.capacity,
                "window_s": s.pool.window_s,
                "history_used": round(s.history.used(self._now(s.pool)), 1),
            }
            for name, s in self._pools.items()
        }
