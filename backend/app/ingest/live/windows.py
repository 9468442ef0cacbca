"""WindowLimiter: a venue's limits of the kind "at most n in any s seconds" (connection
attempts per IP, subscribe requests per connection), kept across reconnects."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from app.clock import Clock


class WindowLimiter:
    """Lets an event happen only while every `(count, seconds)` window has room for it."""

    def __init__(self, windows: Sequence[tuple[int, float]], clock: Clock) -> None:
        self._windows = [(count, seconds) for count, seconds in windows if count > 0]
        self._clock = clock
        self._span = max((seconds for _, seconds in self._windows), default=0.0)
        self._events: deque[float] = deque()

    async def wait(self) -> None:
        """Return once the next event is within every window, and count it."""
        while True:
            now = self._clock.monotonic()
            while self._events and self._events[0] <= now - self._span:
                self._events.popleft()
            wait = 0.0
            for count, seconds in self._windows:
                # The event that must leave this window before one more fits in it.
                if len(self._events) >= count:
                    oldest_in_the_way = self._events[-count]
                    wait = max(wait, oldest_in_the_way + seconds - now)
            if wait <= 0:
                self._events.append(now)
                return
            await self._clock.sleep(wait)
