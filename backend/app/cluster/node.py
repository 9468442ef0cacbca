"""ClusterNode: this process's place in a cluster (`TRADE_CANVAS_BUS_URL` set).

Every process publishes its commits on the bus and feeds its own clients from the bus
only, so a client sees the same stream on any replica; every process holds series through
the cluster's demand; `all` and `ingest` processes also compete to lead ingest."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.redis import ClusterIngest, RedisBus, RedisBusConsumer, connect_redis
from app.bus.redis.metrics import BusMetrics
from app.clock import Clock
from app.cluster.election import Lead, LeaderElection
from app.config import Settings
from app.errors import BusError
from app.hub.bus import Bus
from app.hub.locks import SeriesLocks
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
    client: aioredis.Redis
    publisher: RedisBus
    metrics: BusMetrics
    consumer: RedisBusConsumer | None = None
    ingest: ClusterIngest | None = None
    election: LeaderElection | None = None

    @classmethod
    async def connect(cls, settings: Settings, metrics: Metrics, clock: Clock) -> ClusterNode:
        """Reach the bus and start publishing. Raises `BusError`."""
        assert settings.bus.url is not None
        client = await connect_redis(settings.bus.url)
        bus_metrics = BusMetrics(metrics)
        publisher = RedisBus(client, bus_metrics, clock, stream_max=settings.bus.stream_max)
        publisher.start()
        return cls(node_name(), settings.role, client, publisher, bus_metrics)

    async def join(
        self,
        settings: Settings,
        store: CandleStore,
        locks: SeriesLocks,
        local: Bus,
        clock: Clock,
    ) -> None:
        """Feed `local` (this process's fan-out and caches) from the bus and hold series
        through the cluster."""
        self.consumer = RedisBusConsumer(self.client, local, locks, self.metrics, clock)
        ttl_s = settings.leader.ttl_s
        self.ingest = ClusterIngest(
            self.client, clock, node=self.name, lease_s=ttl_s * _LEASE_TTLS,
            idle_ttl_s=settings.ondemand.idle_ttl_s,
        )  # fmt: skip
        try:
            await self.consumer.start()
            await self.ingest.start()
        except (RedisError, OSError) as e:
            raise BusError(f"the bus went away while joining the cluster: {e}") from e

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
        problems = []
        if self.consumer is not None and (failing := self.consumer.failing):
            problems.append(failing)
        if (failing := self.publisher.failing) is not None:
            problems.append(f"the bus cannot be written: {failing}")
        if self.ingest is not None and self.ingest.leader is None:
            problems.append("no process leads ingest now (live candles wait for one)")
        return problems

    def describe(self) -> dict[str, Any]:
        return {
            "node": self.name,
            "role": self.role,
            "leader": None if self.ingest is None else self.ingest.leader,
            "leading": self.leading,
        }

    async def stop(self) -> None:
        """The leader's parts first (their last commits still go out), then the rest."""
        if self.election is not None:
            await self.election.stop()
        if self.ingest is not None:
            await self.ingest.stop()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.publisher.stop()
        await self.client.aclose()
