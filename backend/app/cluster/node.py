"""ClusterNode: this process's place in a cluster (`TRADE_CANVAS_BUS_URL` set).

Every process publishes its commits on the bus and feeds its own clients from the bus
only, so a client sees the same stream on any replica; every process holds series through
the cluster's demand; `all` and `ingest` processes also compete to lead ingest."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from app.bus.factory import engine_for
from app.bus.ports import Bus, ClusterBus, ClusterDemand
from app.clock import Clock
from app.cluster.election import Lead, LeaderElection
from app.config import Settings
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.store import CandleStore, build_leader_lock

# How long a dead process's subscriptions keep their series live, in leader TTLs.
_LEASE_TTLS = 3


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class ClusterNode:
    name: str
    role: str
    bus: ClusterBus
    demand: ClusterDemand | None = None
    election: LeaderElection | None = None

    @classmethod
    async def connect(cls, settings: Settings, metrics: Metrics, clock: Clock) -> ClusterNode:
        """Reach the bus and start publishing. Raises `BusError`."""
        assert settings.bus.url is not None
        name = node_name()
        bus = await engine_for(settings.bus.url).connect(
            settings.bus.url, metrics, clock, node=name, stream_max=settings.bus.stream_max,
            lease_s=settings.leader.ttl_s * _LEASE_TTLS, idle_ttl_s=settings.ondemand.idle_ttl_s,
            state_ttl_s=settings.leader.ttl_s,
        )  # fmt: skip
        return cls(name, settings.role, bus)

    @property
    def publisher(self) -> Bus:
        return self.bus.publisher

    async def join(self, local: Bus, locks: SeriesLocks) -> ClusterDemand:
        """Feed `local` (this process's fan-out and caches) from the bus and hold series
        through the cluster."""
        self.demand = await self.bus.join(local, locks)
        return self.demand

    def compete(self, settings: Settings, store: CandleStore, lead: Lead, clock: Clock) -> None:
        """Compete for the lead (`lead` starts the leader's parts), unless this process
        only serves (`api`)."""
        if self.role != "api":
            lock = build_leader_lock(store, self.name, ttl_s=settings.leader.ttl_s)
            self.election = LeaderElection(
                lock, lead, clock, node=self.name, ttl_s=settings.leader.ttl_s
            )
            self.election.start()

    @property
    def leading(self) -> bool:
        return self.election is not None and self.election.leading

    def problems(self) -> list[str]:
        """Why this process serves less than it should now (for `/ready`)."""
        problems = self.bus.problems()
        if self.demand is not None and self.demand.leader is None:
            problems.append("no process leads ingest now (live candles wait for one)")
        return problems

    def describe(self) -> dict[str, Any]:
        return {
            "node": self.name,
            "role": self.role,
            "leader": None if self.demand is None else self.demand.leader,
            "leading": self.leading,
        }

    async def stop_competing(self) -> None:
        """Stop leading (the leader's parts stop) and competing."""
        if self.election is not None:
            await self.election.stop()
