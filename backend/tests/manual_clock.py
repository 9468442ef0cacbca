"""A clock the test moves: `monotonic` and `sleep` advance only when told, so a part that
waits 30 seconds on the clock can be made to see them pass in milliseconds. It is the
local exchange's `SteppedClock`, with the wall time taken from elsewhere (a sped-up
exchange's present, so "now" agrees with what the exchange sends)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from local_exchange.clock import SteppedClock
from tests.support import poll


class ManualClock(SteppedClock):
    def __init__(self, wall: Callable[[], float]) -> None:
        super().__init__(start=0.0)
        self._wall = wall

    def time(self) -> float:
        return self._wall()


async def drive(
    clock: SteppedClock, condition: Callable[[], bool | Awaitable[bool]], what: str,
    step: float,
    timeout: float = 10.0,
) -> None:  # fmt: skip
    """Move `clock` by `step` at each check until `condition` holds."""

    def moved() -> bool | Awaitable[bool]:
        clock.advance(step)
        return condition()

    await poll(moved, what, timeout, every=0.01)
