"""AttemptLimiter: a venue's limit on connection attempts, kept across reconnects."""

from __future__ import annotations

from collections import deque

from app.clock import Clock


class AttemptLimiter:
    """At most `limit` connection attempts in any 5 minutes (the venue's own rule)."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self._limit = limit
        self._clock = clock
        self._attempts: deque[float] = deque()

    async def wait(self) -> None:
        while True:
            now = self._clock.monotonic()
            while self._attempts and self._attempts[0] < now - 300:
                self._attempts.popleft()
            if len(self._attempts) < self._limit:
                self._attempts.append(now)
                return
            await self._clock.sleep(self._attempts[0] + 300 - now)
