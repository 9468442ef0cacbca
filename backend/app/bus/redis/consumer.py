"""RedisBusConsumer: a process's reading side of the bus. Closed candles and errors come
from the stream in commit order and go to this process's consumers (fan-out, forming
candles, taps) under their series' locks, the locks a subscribe holds while it reads its
catchup: a close that commit appended before the read reaches the client as already held
(`Bus.closed`'s `head_before`), one committed after it continues the stream. A reconnect
resumes after the last id read; what Redis trimmed meanwhile is counted, and followers
see the hole as a `gap` at their next close. Forming candles come from pub/sub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.ports import Bus
from app.bus.redis import codec
from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.bus.redis.metrics import BusMetrics
from app.clock import Clock
from app.locks import SeriesLocks
from app.tasks import spawn

log = logging.getLogger(__name__)

_READ_MAX: Final = 1_000
_BLOCK_MS: Final = 1_000
_BACKOFF_MAX_S: Final = 5.0


class RedisBusConsumer:
    def __init__(
        self,
        client: aioredis.Redis,
        target: Bus,
        locks: SeriesLocks,
        metrics: BusMetrics,
        clock: Clock,
        *,
        keys: Keys = DEFAULT_KEYS,
    ) -> None:
        self._client = client
        self._target = target
        self._locks = locks
        self._metrics = metrics
        self._clock = clock
        self._keys = keys
        self._last_id: bytes | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._failing: dict[str, str] = {}

    @property
    def failing(self) -> str | None:
        """Why the bus cannot be read now, while it cannot."""
        return "; ".join(self._failing.values()) or None

    async def start(self) -> None:
        """Read from the stream's end as it is now (clients catch up from the store)."""
        self._last_id = await self._stream_end()
        self._tasks = [
            spawn(self._read_stream(), "bus consumer"),
            spawn(self._read_forming(), "bus forming consumer"),
        ]
        self._metrics.connected.set(1)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _stream_end(self) -> bytes:
        newest: list[tuple[bytes, Any]] = await self._client.xrevrange(self._keys.closed, count=1)  # type: ignore[assignment]
        return newest[0][0] if newest else b"0-0"

    # -- closed candles and errors ----------------------------------------------------

    async def _read_stream(self) -> None:
        backoff = 0.1
        while True:
            try:
                reply: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
                reply = await self._client.xread(  # type: ignore[assignment]
                    {self._keys.closed: self._last_id or b"0-0"}, count=_READ_MAX, block=_BLOCK_MS
                )
            except (RedisError, OSError) as e:
                await self._down("stream", e, backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            if "stream" in self._failing:
                await self._resumed()
            backoff = 0.1
            for _, entries in reply:
                if entries:
                    await self._deliver(entries)

    async def _resumed(self) -> None:
        """Back after an outage: count what Redis trimmed past our last id."""
        del self._failing["stream"]
        self._metrics.connected.set(0 if self._failing else 1)
        log.info("bus: reading Redis again")
        try:
            oldest: list[tuple[bytes, Any]] = await self._client.xrange(self._keys.closed, count=1)  # type: ignore[assignment]
        except (RedisError, OSError):
            return
        if oldest and self._last_id is not None and _id_key(oldest[0][0]) > _next_id(self._last_id):
            self._metrics.lost.inc()
            log.warning("bus: closed candles trimmed from Redis while unread; followers re-read")

    async def _deliver(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> None:
        decoded: list[tuple[bytes, codec.StreamMessage]] = []
        for entry_id, fields in entries:
            try:
                decoded.append((entry_id, codec.decode_stream(fields)))
            except codec.BusMessageError as e:
                log.warning("bus: skipping entry %s: %s", entry_id.decode(), e)
        now = self._clock.time()
        async with self._locks.hold({m.series_id for _, m in decoded}):
            for entry_id, message in decoded:
                if isinstance(message, codec.ClosedMessage):
                    self._target.closed(message.series_id, message.candles, message.head_before)
                    self._metrics.received.labels("closed").inc()
                    self._metrics.lag.observe(max(0.0, now - _id_key(entry_id)[0] / 1000))
                else:
                    self._target.error(message.series_id, message.code, message.message)
                    self._metrics.received.labels("error").inc()
        self._last_id = entries[-1][0]

    # -- forming candles --------------------------------------------------------------

    async def _read_forming(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys.forming)
                if "forming" in self._failing:
                    del self._failing["forming"]
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._forming(message)
            except (RedisError, OSError) as e:
                await self._down("forming", e, backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
            finally:
                await pubsub.aclose()

    def _forming(self, message: dict[str, Any]) -> None:
        try:
            forming = codec.decode_forming(message["data"])
        except codec.BusMessageError as e:
            log.warning("bus: skipping forming message: %s", e)
            return
        self._target.forming(forming.series_id, forming.candle, forming.event_time_ms)
        self._metrics.received.labels("forming").inc()

    async def _down(self, part: str, error: BaseException, backoff: float) -> None:
        if part not in self._failing:
            log.warning("bus: cannot read Redis (%s; reconnecting): %s", part, error)
        self._failing[part] = f"the bus cannot be read: {error or type(error).__name__}"
        self._metrics.connected.set(0)
        await self._clock.sleep(backoff)


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: bytes) -> tuple[int, int]:
    ms, seq = _id_key(entry_id)
    return ms, seq + 1
