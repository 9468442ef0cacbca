"""The cluster's demand for live series, as every process holds and reads it.

Every process's subscribers and facade clients hold series through `ClusterIngest`: a
lease per (series, holder) in one sorted set, scored by when it lapses and renewed while
held, so the series of a process that dies lapse by themselves. The leader's answer
(`board.DemandBoard`) is read back here: every process answers `/ready`, `ingest_state`
and the feeds' status from the state it publishes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.redis import codec
from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.clock import Clock
from app.feeds import FeedStatus
from app.series import SeriesId
from app.tasks import spawn

log = logging.getLogger(__name__)

LeaseKey = tuple[str, str]  # (series id, holder)


class ClusterIngest:
    """`IngestPort` of a process in a cluster: holds series cluster-wide, reads the
    leader's state. `lease_s`: how long a held series outlives its process."""

    def __init__(
        self,
        client: aioredis.Redis,
        clock: Clock,
        *,
        node: str,
        lease_s: float,
        idle_ttl_s: float,
        keys: Keys = DEFAULT_KEYS,
    ) -> None:
        self._client = client
        self._clock = clock
        self._node = node
        self._lease_s = lease_s
        self._idle_ttl_s = idle_ttl_s
        self._keys = keys
        self._held: Counter[LeaseKey] = Counter()
        self._leases: dict[LeaseKey, float] = {}  # a facade client's, until (epoch s)
        self._state: dict[str, Any] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._refresh()
        self._task = spawn(self._run(), "cluster demand")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Give back what this process held now rather than when its leases lapse.
        members = [codec.wanted_member(*k) for k in [*self._held, *self._leases]]
        if members:
            with contextlib.suppress(RedisError, OSError):
                await self._client.zrem(self._keys.wanted, *members)
                await self._client.publish(self._keys.demand, b"")

    def _holder(self, holder: str) -> str:
        return f"{self._node}/{holder}"

    # -- holding series ---------------------------------------------------------------

    async def acquire(self, series: SeriesId, holder: str) -> None:
        key = (str(series), self._holder(holder))
        self._held[key] += 1
        if self._held[key] == 1:
            self._wakeup.set()

    async def release(self, series: SeriesId, holder: str) -> None:
        key = (str(series), self._holder(holder))
        if self._held[key] <= 0:
            return
        self._held[key] -= 1
        if self._held[key] == 0:
            del self._held[key]
            if key not in self._leases:
                with contextlib.suppress(RedisError, OSError):
                    await self._client.zrem(self._keys.wanted, codec.wanted_member(*key))
                    await self._client.publish(self._keys.demand, b"")

    def lease(self, series: SeriesId, holder: str) -> None:
        key = (str(series), self._holder(holder))
        new = key not in self._leases
        self._leases[key] = self._clock.time() + self._idle_ttl_s
        if new:
            self._wakeup.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._lease_s / 3)
            self._wakeup.clear()
            try:
                await self._refresh()
            except (RedisError, OSError) as e:
                log.warning("cluster demand: cannot reach Redis (retried): %s", e)
                self._state = None
                await self._clock.sleep(1.0)

    async def _refresh(self) -> None:
        now = self._clock.time()
        for key, until in list(self._leases.items()):
            if until <= now:
                del self._leases[key]
        scores = {codec.wanted_member(*k): (now + self._lease_s) * 1000 for k in self._held}
        for key, until in self._leases.items():
            scores[codec.wanted_member(*key)] = until * 1000
        pipe = self._client.pipeline(transaction=False)
        if scores:
            pipe.zadd(self._keys.wanted, scores)
            pipe.publish(self._keys.demand, b"")
        pipe.get(self._keys.state)
        replies = await pipe.execute()
        raw = replies[-1]
        self._state = orjson.loads(raw) if raw else None

    # -- the leader's state -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None  # the demand side: a leader may come and go

    @property
    def leader(self) -> str | None:
        """The node leading ingest, as its last published state says (None: none now)."""
        return None if self._state is None else str(self._state["leader"])

    def _part(self, name: str) -> Any:
        return (self._state or {}).get(name) or {}

    def job_error(self, series_id: str) -> tuple[str, str] | None:
        error = self._part("job_errors").get(series_id)
        return (error[0], error[1]) if error else None

    def live_series(self) -> list[str]:
        return list(self._part("live"))

    def is_live(self, series_id: str) -> bool:
        return series_id in self._part("live")

    def feed_status(self, series_id: str) -> FeedStatus | None:
        status = self._part("feeds").get(series_id)
        return FeedStatus(**status) if status else None

    def failing_whitelist(self) -> dict[str, str]:
        return dict(self._part("failing_whitelist"))

    def clock_problems(self) -> list[str]:
        return list(self._part("clock_problems"))

    def snapshot(self) -> dict[str, Any]:
        if self._state is None:
            return {"jobs": [], "cluster": {"leader": None, "node": self._node}}
        snapshot = dict(self._state["snapshot"])
        snapshot["cluster"] = {
            "leader": self._state["leader"],
            "epoch": self._state["epoch"],
            "node": self._node,
        }
        return snapshot
