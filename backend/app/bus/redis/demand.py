"""The cluster's demand for live series, and the leader's answer.

Every process's subscribers and facade clients hold series through `ClusterIngest`: a
lease per (series, holder) in one sorted set, scored by when it lapses and renewed while
held, so the series of a process that dies lapse by themselves. The leader's `DemandBoard`
holds in its supervisor exactly the unlapsed leases (a new leader reads the same set) and
publishes its ingest state under a key that expires unless it renews it: every process
answers `/ready`, `ingest_state` and the feeds' status from it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.redis import codec
from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.clock import Clock
from app.errors import CapacityExceeded, InvalidSeriesId
from app.hub.bus import Bus
from app.ingest.port import FeedStatus, IngestPort
from app.series import SeriesId, parse_series_id
from app.tasks import spawn

log = logging.getLogger(__name__)

LeaseKey = tuple[str, str]  # (series id, holder)
_RECONCILE_EVERY_S: Final = 1.0


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


class DemandBoard:
    """On the leader: its supervisor holds what the cluster wants; its state is published."""

    def __init__(
        self,
        client: aioredis.Redis,
        supervisor: IngestPort,
        bus: Bus,
        clock: Clock,
        *,
        node: str,
        epoch: int,
        state_ttl_s: float,
        keys: Keys = DEFAULT_KEYS,
    ) -> None:
        self._client = client
        self._supervisor = supervisor
        self._bus = bus
        self._clock = clock
        self._node = node
        self._epoch = epoch
        self._state_ttl_s = state_ttl_s
        self._keys = keys
        self._held: set[LeaseKey] = set()
        self._refused: set[LeaseKey] = set()
        self._since = clock.time()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn(self._run(), "cluster demand board")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._client.delete(self._keys.state)

    async def _run(self) -> None:
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys.demand)
                while True:
                    await self.reconcile()
                    await self.publish_state()
                    # A change wakes us at once; otherwise leases are swept each second.
                    await pubsub.get_message(timeout=_RECONCILE_EVERY_S)
                    while await pubsub.get_message(timeout=0) is not None:
                        pass
            except (RedisError, OSError) as e:
                log.warning("cluster demand board: cannot reach Redis (retried): %s", e)
                await self._clock.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def reconcile(self) -> None:
        now_ms = self._clock.time() * 1000
        pipe = self._client.pipeline(transaction=False)
        pipe.zremrangebyscore(self._keys.wanted, "-inf", now_ms)
        pipe.zrange(self._keys.wanted, 0, -1)
        _, members = await pipe.execute()
        wanted = {k for m in members if (k := codec.parse_wanted_member(m)) is not None}
        for key in sorted(self._held - wanted):
            self._held.discard(key)
            await self._supervisor.release(parse_series_id(key[0]), key[1])
        self._refused &= wanted
        for key in sorted(wanted - self._held):
            try:
                series = parse_series_id(key[0])
                await self._supervisor.acquire(series, key[1])
            except InvalidSeriesId as e:
                log.warning("cluster demand: ignoring %r: %s", key[0], e)
                await self._client.zrem(self._keys.wanted, codec.wanted_member(*key))
                continue
            except CapacityExceeded as e:
                if key not in self._refused:
                    self._refused.add(key)
                    self._bus.error(key[0], e.code, str(e))
                continue
            self._held.add(key)
            self._refused.discard(key)

    async def publish_state(self) -> None:
        supervisor = self._supervisor
        jobs = supervisor.snapshot()
        series_ids = [job["series_id"] for job in jobs["jobs"]]
        feeds = {}
        for series_id in series_ids:
            status = supervisor.feed_status(series_id)
            if status is not None:
                feeds[series_id] = dataclasses.asdict(status)
        errors = {s: e for s in series_ids if (e := supervisor.job_error(s)) is not None}
        state = {
            "leader": self._node,
            "epoch": self._epoch,
            "since": self._since,
            "snapshot": jobs,
            "feeds": feeds,
            "job_errors": errors,
            "live": supervisor.live_series(),
            "failing_whitelist": supervisor.failing_whitelist(),
        }
        await self._client.set(
            self._keys.state, orjson.dumps(state), px=int(self._state_ttl_s * 1000)
        )
