"""RedisBus: the writer's `Bus` in a cluster. The calls never wait: messages queue here in
commit order and one task sends them, in pipelines, to the stream (closes, errors) and the
channel (forming). While Redis is down they wait here (closes in order, forming only the
newest per series) and go out once it is back: the candles are in the store already, so a
replica that misses one still finds it there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.redis import codec
from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.bus.redis.metrics import BusMetrics
from app.candle import Candle, CandleRow
from app.clock import Clock
from app.tasks import spawn

log = logging.getLogger(__name__)

# Beyond this many unsent closes (Redis down for long), the oldest are dropped: their
# candles are stored, and a follower sees the hole as a gap and re-reads.
PENDING_MAX: Final = 200_000
_PIPELINE_MAX: Final = 1_000
_BACKOFF_MAX_S: Final = 5.0


class RedisBus:
    def __init__(
        self,
        client: aioredis.Redis,
        metrics: BusMetrics,
        clock: Clock,
        *,
        keys: Keys = DEFAULT_KEYS,
        stream_max: int = 100_000,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._keys = keys
        self._stream_max = stream_max
        self._stream: list[dict[str, bytes]] = []
        self._forming: dict[str, bytes] = {}
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()  # nothing left to send
        self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self._failing: str | None = None

    # -- the Bus ----------------------------------------------------------------------

    def closed(self, series_id: str, candles: Sequence[CandleRow], head_before: int | None) -> None:
        self._queue(codec.encode_closed(series_id, candles, head_before))

    def error(self, series_id: str, code: str, message: str) -> None:
        self._queue(codec.encode_error(series_id, code, message))

    def forming(self, series_id: str, candle: Candle, event_time_ms: int | None) -> None:
        self._forming[series_id] = codec.encode_forming(series_id, candle, event_time_ms)
        self._empty.clear()
        self._wakeup.set()

    def _queue(self, fields: dict[str, bytes]) -> None:
        self._stream.append(fields)
        if len(self._stream) > PENDING_MAX:
            del self._stream[: len(self._stream) - PENDING_MAX]
        self._metrics.pending.set(len(self._stream))
        self._empty.clear()
        self._wakeup.set()

    # -- the sender -------------------------------------------------------------------

    @property
    def failing(self) -> str | None:
        """Why messages cannot be sent now, while they cannot."""
        return self._failing

    def start(self) -> None:
        self._task = spawn(self._run(), "bus publisher")

    async def stop(self) -> None:
        """Send what is queued (a moment at most), then stop."""
        if self._task is None:
            return
        if self._failing is None and (self._stream or self._forming):
            try:
                await asyncio.wait_for(self._drained(), 2.0)
            except TimeoutError:
                log.warning("bus: %d closed-candle messages unsent at shutdown", len(self._stream))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _drained(self) -> None:
        await self._empty.wait()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self._stream and not self._forming:
                self._empty.set()
                self._wakeup.clear()
                await self._wakeup.wait()
            stream, forming = self._stream[:_PIPELINE_MAX], self._forming
            self._forming = {}
            try:
                await self._send(stream, forming)
            except (RedisError, OSError) as e:
                for series_id, data in forming.items():
                    self._forming.setdefault(series_id, data)  # newer ones stay
                if self._failing is None:
                    log.warning("bus: cannot send to Redis (kept, retried): %s", e)
                self._failing = str(e) or type(e).__name__
                await self._clock.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            del self._stream[: len(stream)]
            self._metrics.pending.set(len(self._stream))
            if self._failing is not None:
                log.info("bus: sending to Redis again")
                self._failing = None
            backoff = 0.1

    async def _send(self, stream: list[dict[str, bytes]], forming: dict[str, bytes]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for fields in stream:
            pipe.xadd(
                self._keys.closed,
                fields,  # type: ignore[arg-type]
                maxlen=self._stream_max,
                approximate=True,
            )
        for data in forming.values():
            pipe.publish(self._keys.forming, data)
        await pipe.execute()
        closes = sum(1 for f in stream if f["k"] == b"c")
        self._metrics.published.labels("closed").inc(closes)
        self._metrics.published.labels("error").inc(len(stream) - closes)
        self._metrics.published.labels("forming").inc(len(forming))
