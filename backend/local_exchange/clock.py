"""The fake exchange's clocks.

`FakeClock` runs on real time, optionally sped up (60 closes a 1m candle every second) and
shifted so a test can start just before a candle boundary. `SteppedClock` moves only when
told: a test hands the same one to the exchange and to trade-canvas (it is an
`app.clock.Clock`), advances it, and both see the same seconds pass at once, so nothing
waits out real time. Faults (a stall, refused connects, late closes) last clock seconds.

Both offer the exchange `now` (its wall clock), `elapsed` (for fault windows) and `wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from typing import Protocol


class ExchangeClock(Protocol):
    def now(self) -> float: ...

    def now_ms(self) -> int: ...

    def elapsed(self) -> float: ...

    async def wait(self, seconds: float) -> None: ...


class FakeClock:
    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self._start_fake = time.time() if start is None else start
        self._start_real = time.monotonic()

    def now(self) -> float:
        return self._start_fake + (time.monotonic() - self._start_real) * self.speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def elapsed(self) -> float:
        """Real seconds: fault windows and ticks stay in real time, whatever the speed."""
        return time.monotonic()

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SteppedClock:
    """Safe to share between the exchange's thread and the test's loop: a sleeper is woken
    on its own loop."""

    def __init__(self, start: float) -> None:
        self._start = start
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._sleepers: list[
            tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]
        ] = []

    # -- the exchange's view ----------------------------------------------------------

    def now(self) -> float:
        return self._start + self._elapsed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def elapsed(self) -> float:
        return self._elapsed

    async def wait(self, seconds: float) -> None:
        await self.sleep(seconds)

    # -- trade-canvas's view (app.clock.Clock) ----------------------------------------

    def time(self) -> float:
        return self.now()

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        wake = loop.create_future()
        with self._lock:
            entry = (self._elapsed + seconds, next(self._order), loop, wake)
            heapq.heappush(self._sleepers, entry)
        await wake

    # -- the test's ---------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += seconds
            due = []
            while self._sleepers and self._sleepers[0][0] <= self._elapsed:
                due.append(heapq.heappop(self._sleepers))
        for _, _, loop, wake in due:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_wake, wake)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
