"""Connecting to Redis, with its errors translated at the boundary."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.errors import BusError


def safe_url(url: str) -> str:
    """`url` without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def connect_redis(url: str) -> aioredis.Redis:
    """A client of the Redis at `url`, checked by a PING. Raises `BusError`."""
    try:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=None, health_check_interval=10
        )
    except (ValueError, RedisError) as e:
        raise BusError(f"bad bus URL {safe_url(url)}: {e}") from e
    try:
        await client.ping()
    except (RedisError, OSError) as e:
        await client.aclose()
        raise BusError(f"cannot reach the bus at {safe_url(url)}: {e}") from e
    return client
