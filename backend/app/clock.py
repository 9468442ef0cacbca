"""The one source of time: wall clock, monotonic clock and sleeping, injected into every
part that waits or timestamps, so tests can run on a clock they move themselves."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (for timestamps and the exchange's present)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for ages, deadlines and rates)."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
