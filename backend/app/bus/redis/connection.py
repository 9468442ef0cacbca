"""Connecting to Redis, with its errors translated at the boundary."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.errors import BusError
from app.redact import safe_url, without_secrets


async def connect_redis(url: str) -> aioredis.Redis:
    """A client of the Redis at `url`, checked by a PING. Raises `BusError`."""
    try:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=None, health_check_interval=10
        )
    except (ValueError, RedisError) as e:
        raise BusError(f"bad bus URL {safe_url(url)}: {without_secrets(str(e), url)}") from e
    try:
        await client.ping()
    except (RedisError, OSError) as e:
        await client.aclose()
        raise BusError(
            f"cannot reach the bus at {safe_url(url)}: {without_secrets(str(e), url)}"
        ) from e
    return client
