"""The bus's ports: what the core asks of whatever carries candles between its parts.

`Bus` is how committed and forming candles travel from the writer to the fan-out. In one
process the fan-out is the bus (`Fanout` implements it; `bus.memory` composes several); a
bus across processes implements the same three calls and feeds each replica's fan-out.
The calls never wait: a bus that must do I/O queues and sends from its own task. `closed`
is called only after the candles are committed, under their series' lock.

`ClusterBus` is the rest of what a cluster's processes share: the series they hold (leases
that lapse with their process), asks of the ingest leader and its answers, and the state
the leader publishes. Each engine is one folder whose package names its `BusEngine`;
`bus.factory` picks the one that speaks a URL's scheme.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.candle import Candle, CandleRow
from app.clock import Clock
from app.feeds import IngestPort
from app.locks import SeriesLocks
from app.metrics import Metrics

# The leader's side of one kind of ask: its payload in, its answer out (JSON objects). A
# `TradeCanvasError` it raises travels back to the asker and is raised there again.
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
# The asking side: (kind, payload, timeout in seconds) to the leader's answer.
Ask = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]


class Bus(Protocol):
    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        """Committed closed candles of one series, in ascending time; `head_before` is the
        series' newest candle time before their commit (None: it was empty). A candle after
        it was appended, so a follower whose catchup reaches past it already has it."""

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        """The newest state of a candle still forming; never stored."""

    def error(self, series_id: str, code: str, message: str) -> None:
        """Something went wrong with a series its followers should know of."""


class Running(Protocol):
    """A part with a task of its own, started once and stopped once."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class ClusterDemand(IngestPort, Protocol):
    """The cluster's hold on its series, as every process holds and reads it: leases that
    lapse with the process holding them, and the ingest state the leader publishes."""

    @property
    def leader(self) -> str | None:
        """The process leading ingest now, as it last published; None when none does."""


class ClusterBus(Protocol):
    @property
    def publisher(self) -> Bus:
        """Where this process's commits, forming candles and errors go out to all."""

    async def join(self, local: Bus, locks: SeriesLocks) -> ClusterDemand:
        """Feed `local` (this process's fan-out and caches) from the bus, each series'
        closes under its lock, and hold series through the cluster. Raises `BusError`."""

    async def ask(self, kind: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """The leader's answer to an ask of `kind`. Raises `BusError` when no leader answers
        in time, or the `TradeCanvasError` its handler raised."""

    def answering(self, handlers: Mapping[str, Handler]) -> Running:
        """The leader's side of asks: each request run with the handler of its kind."""

    def demand_board(self, supervisor: IngestPort, *, epoch: int) -> Running:
        """On the leader: `supervisor` holds what the cluster holds, and its state is
        published for every process to read."""

    def problems(self) -> list[str]:
        """Why the bus serves this process less than it should now (for `/ready`)."""

    async def close(self) -> None:
        """Stop reading and publishing (what is queued goes out first) and disconnect."""


class ConnectBus(Protocol):
    async def __call__(
        self,
        url: str,
        metrics: Metrics,
        clock: Clock,
        *,
        node: str,
        stream_max: int,
        lease_s: float,
        idle_ttl_s: float,
        state_ttl_s: float,
    ) -> ClusterBus:
        """The cluster's bus at `url`, connected and publishing. Raises `BusError`."""


@dataclass(frozen=True, slots=True)
class BusEngine:
    """What an engine's package offers (as `ENGINE`): the URL schemes it speaks, how to
    connect, and how to check that a URL answers (raising `BusError` when not)."""

    schemes: tuple[str, ...]
    connect: ConnectBus
    check: Callable[[str], Awaitable[None]]
