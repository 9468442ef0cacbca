"""Redis as the bus: closed candles and errors on a capped stream (replicas resume from
the id they last read), forming candles on pub/sub, the cluster's demand for series on a
sorted set of leases, the leader's ingest state on a key that expires with it."""

from app.bus.ports import BusEngine
from app.bus.redis.board import DemandBoard
from app.bus.redis.cluster import RedisClusterBus, check_redis
from app.bus.redis.connection import connect_redis
from app.bus.redis.consumer import RedisBusConsumer
from app.bus.redis.demand import ClusterIngest
from app.bus.redis.publisher import RedisBus

ENGINE = BusEngine(
    schemes=("redis", "rediss", "unix"), connect=RedisClusterBus.connect, check=check_redis
)

__all__ = [
    "ENGINE",
    "ClusterIngest",
    "DemandBoard",
    "RedisBus",
    "RedisBusConsumer",
    "connect_redis",
]
