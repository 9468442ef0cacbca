"""SingleFlight: calls with the same key made while one of them runs share its outcome,
result or error: ten clients asking for the same missing window, the same order book or the
same page at once cost one fetch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[T]] = {}

    def __contains__(self, key: object) -> bool:
        """Whether a call of `key` is running now."""
        return key in self._running

    async def run(self, key: K, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, or the outcome of the call of `key` running already."""
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await call()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved, even when nobody else was waiting
            raise
        finally:
            del self._running[key]
        future.set_result(result)
        return result
