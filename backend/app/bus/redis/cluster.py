"""RedisClusterBus: the `ClusterBus` over one Redis, its parts put together: the publisher,
the consumer feeding this process, the demand (leases), asks and the leader's board."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.ports import Bus, ClusterDemand, Handler, Running
from app.bus.redis.asks import LeaderAnswers, LeaderAsk
from app.bus.redis.board import DemandBoard
from app.bus.redis.connection import connect_redis
from app.bus.redis.consumer import RedisBusConsumer
from app.bus.redis.demand import ClusterIngest
from app.bus.redis.metrics import BusMetrics
from app.bus.redis.publisher import RedisBus
from app.clock import Clock
from app.errors import BusError
from app.feeds import IngestPort
from app.locks import SeriesLocks
from app.metrics import Metrics


class RedisClusterBus:
    def __init__(
        self,
        client: aioredis.Redis,
        metrics: BusMetrics,
        clock: Clock,
        *,
        node: str,
        stream_max: int,
        lease_s: float,
        idle_ttl_s: float,
        state_ttl_s: float,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._node = node
        self._lease_s = lease_s
        self._idle_ttl_s = idle_ttl_s
        self._state_ttl_s = state_ttl_s
        self._publisher = RedisBus(client, metrics, clock, stream_max=stream_max)
        self._ask = LeaderAsk(client)
        self._consumer: RedisBusConsumer | None = None
        self._demand: ClusterIngest | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        metrics: Metrics,
        clock: Clock,
        *,
        node: str,
        stream_max: int,
        lease_s: float,
        idle_ttl_s: float,
        state_ttl_s: float,
    ) -> RedisClusterBus:
        """Reach Redis and start publishing. Raises `BusError`."""
        bus = cls(
            await connect_redis(url), BusMetrics(metrics), clock, node=node,
            stream_max=stream_max, lease_s=lease_s, idle_ttl_s=idle_ttl_s,
            state_ttl_s=state_ttl_s,
        )  # fmt: skip
        bus._publisher.start()
        return bus

    @property
    def publisher(self) -> Bus:
        return self._publisher

    async def join(self, local: Bus, locks: SeriesLocks) -> ClusterDemand:
        self._consumer = RedisBusConsumer(self._client, local, locks, self._metrics, self._clock)
        self._demand = ClusterIngest(
            self._client, self._clock, node=self._node, lease_s=self._lease_s,
            idle_ttl_s=self._idle_ttl_s,
        )  # fmt: skip
        try:
            await self._consumer.start()
            await self._demand.start()
        except (RedisError, OSError) as e:
            raise BusError(f"the bus went away while joining the cluster: {e}") from e
        return self._demand

    async def ask(self, kind: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        return await self._ask(kind, payload, timeout_s)

    def answering(self, handlers: Mapping[str, Handler]) -> Running:
        return LeaderAnswers(self._client, handlers, self._clock)

    def demand_board(self, supervisor: IngestPort, *, epoch: int) -> Running:
        return DemandBoard(
            self._client, supervisor, self._publisher, self._clock, node=self._node,
            epoch=epoch, state_ttl_s=self._state_ttl_s,
        )  # fmt: skip

    def problems(self) -> list[str]:
        problems = []
        if self._consumer is not None and (failing := self._consumer.failing):
            problems.append(failing)
        if (failing := self._publisher.failing) is not None:
            problems.append(f"the bus cannot be written: {failing}")
        return problems

    async def close(self) -> None:
        if self._demand is not None:
            await self._demand.stop()
        if self._consumer is not None:
            await self._consumer.stop()
        await self._publisher.stop()
        await self._client.aclose()


async def check_redis(url: str) -> None:
    """Raises `BusError` unless Redis answers at `url`."""
    await (await connect_redis(url)).aclose()
