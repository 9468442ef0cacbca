"""Connecting to Redis, with its errors translated at the boundary."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.errors import BusError


def safe_url(url: str) -> str:
    """`url` without its password (in the authority or the query), for logs and errors."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}={v}" if v else k
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    # Built by hand: urlunsplit drops the `//` of `unix:///path` (an empty authority).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


async def connect_redis(url: str) -> aioredis.Redis:
    """A client of the Redis at `url`, checked by a PING. Raises `BusError`."""
    try:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=None, health_check_interval=10
        )
    except (ValueError, RedisError) as e:
        raise BusError(f"bad bus URL {safe_url(url)}: {_without(e, url)}") from e
    try:
        await client.ping()
    except (RedisError, OSError) as e:
        await client.aclose()
        raise BusError(f"cannot reach the bus at {safe_url(url)}: {_without(e, url)}") from e
    return client


def _without(error: BaseException, url: str) -> str:
    """The error's text with the URL's password taken out (redis-py may quote it)."""
    text = str(error)
    password = urlsplit(url).password
    for secret in [password, *(v for k, v in parse_qsl(urlsplit(url).query) if k == "password")]:
        if secret:
            text = text.replace(secret, "***")
    return text
