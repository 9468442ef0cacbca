"""A clock the test moves: `monotonic` and `sleep` advance only when told, so a part that
waits 30 seconds on the clock can be made to see them pass in milliseconds."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable

from tests.support import poll


class ManualClock:
    def __init__(self, wall: Callable[[], float]) -> None:
        self._wall = wall  # the exchange's present, so "now" agrees with what it sends
        self._now = 0.0
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self._wall()

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake

    def advance(self, seconds: float) -> None:
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)


async def drive(
    clock: ManualClock, condition: Callable[[], bool | Awaitable[bool]], what: str,
    step: float,
    timeout: float = 10.0,
) -> None:  # fmt: skip
    """Move `clock` by `step` at each check until `condition` holds."""

    def moved() -> bool | Awaitable[bool]:
        clock.advance(step)
        return condition()

    await poll(moved, what, timeout, every=0.01)
