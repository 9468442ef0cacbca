"""DemandBoard: on the leader, its supervisor holds exactly the unlapsed leases of the
cluster's demand (a new leader reads the same set), and its ingest state is published
under a key that expires unless renewed, so a dead leader's state vanishes with it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Final

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.ports import Bus
from app.bus.redis import codec
from app.bus.redis.demand import LeaseKey
from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.clock import Clock
from app.errors import CapacityExceeded, InvalidSeriesId
from app.feeds import IngestPort
from app.series import parse_series_id
from app.tasks import spawn

log = logging.getLogger(__name__)

_RECONCILE_EVERY_S: Final = 1.0


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
        self._every_s = min(_RECONCILE_EVERY_S, state_ttl_s / 3)
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
                    # A change wakes us at once; otherwise leases are swept each second,
                    # and the state renewed well inside its ttl.
                    await pubsub.get_message(timeout=self._every_s)
                    while await pubsub.get_message(timeout=0) is not None:
                        pass
            except (RedisError, OSError) as e:
                log.warning("cluster demand board: cannot reach Redis (retried): %s", e)
                await self._clock.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

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
            "clock_problems": supervisor.clock_problems(),
        }
        await self._client.set(
            self._keys.state, orjson.dumps(state), px=int(self._state_ttl_s * 1000)
        )
