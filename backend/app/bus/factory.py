"""Which bus engine a URL names (`TRADE_CANVAS_BUS_URL`); the one place that knows them."""

from __future__ import annotations

from app.bus.ports import ClusterBus
from app.bus.redis.cluster import RedisClusterBus, check_redis
from app.clock import Clock
from app.metrics import Metrics


async def connect_bus(
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
    return await RedisClusterBus.connect(
        url, metrics, clock, node=node, stream_max=stream_max, lease_s=lease_s,
        idle_ttl_s=idle_ttl_s, state_ttl_s=state_ttl_s,
    )  # fmt: skip


async def check_bus(url: str) -> None:
    """Raises `BusError` unless the bus at `url` answers."""
    await check_redis(url)
