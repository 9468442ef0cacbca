"""LeaderElection: an ingest process competes for the lead, and while it leads runs what
only the leader runs (the feeds, backfill, imports, downloads). The leader renews its lead
every third of the TTL from this loop, and a standby tries as often, so it leads within
the TTL of the leader's last renewal (the leader died, or stopped answering). A leader
that finds its lead gone stops its parts at once and competes again (the fencing epoch
has already stopped its writes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.clock import Clock
from app.errors import StoreError
from app.store import LeaderLock
from app.tasks import spawn

log = logging.getLogger(__name__)

# Starts the leader's parts for a fencing epoch; returns what stops them.
Lead = Callable[[int], Awaitable[Callable[[], Awaitable[None]]]]


class LeaderElection:
    def __init__(
        self, lock: LeaderLock, lead: Lead, clock: Clock, *, node: str, ttl_s: float
    ) -> None:
        self._lock = lock
        self._lead = lead
        self._clock = clock
        self._node = node
        self._every_s = ttl_s / 3
        self._task: asyncio.Task[None] | None = None
        self._stop_parts: Callable[[], Awaitable[None]] | None = None
        self.epoch: int | None = None

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def start(self) -> None:
        self._task = spawn(self._run(), "leader election")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._step_down()
        await self._lock.close()

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                epoch = await self._lock.try_lead()
            except StoreError as e:
                if not failing:
                    log.warning("leader election: %s (retrying)", e)
                failing = True
                await self._clock.sleep(self._every_s)
                continue
            failing = False
            if epoch is None:
                await self._clock.sleep(self._every_s)
                continue
            log.info("%s leads ingest (epoch %d)", self._node, epoch)
            self.epoch = epoch
            self._stop_parts = await self._lead(epoch)
            while await self._lock.holds():
                await self._clock.sleep(self._every_s)
            log.error("%s lost the lead (epoch %d): stopping its feeds", self._node, epoch)
            await self._step_down()

    async def _step_down(self) -> None:
        stop, self._stop_parts = self._stop_parts, None
        self.epoch = None
        if stop is not None:
            await stop()
