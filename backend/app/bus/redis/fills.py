"""Fills: what a window read lacks (older history, a series not yet live) is fetched from
the venue by the leader alone, for any process that asks. The asker pushes a request on a
list and waits on a reply key of its own; the leader pops requests, fetches and commits
through its writer (so the candles go out on the bus like any commit) and answers with
where the venue's history starts, if it found out. So the leader stays the one process
calling the exchanges, and the one writing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.clock import Clock
from app.errors import ExchangeError, InvalidSeriesId, TradeCanvasError
from app.series import SeriesId, parse_series_id
from app.tasks import KeyedTasks, spawn

log = logging.getLogger(__name__)

# Fetches the venue's closed candles of a series in (after, until] and commits them;
# returns the venue's first candle time when the fetch found where its history starts.
Fill = Callable[[SeriesId, int, int], Awaitable[int | None]]

_REPLY_TTL_S: Final = 60
_POP_WAIT_S: Final = 1


class RemoteFill:
    """The asking side, used by every process of a cluster in place of its own fetch."""

    def __init__(
        self, client: aioredis.Redis, *, timeout_s: float, keys: Keys = DEFAULT_KEYS
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._keys = keys

    async def __call__(self, series: SeriesId, after: int, until: int) -> int | None:
        request_id = uuid.uuid4().hex
        request = orjson.dumps({"id": request_id, "s": str(series), "a": after, "u": until})
        reply_key = self._keys.fill_reply(request_id)
        try:
            await self._client.lpush(self._keys.fills, request)
            # A blocking pop on a connection of its own (the pool's), for at most the timeout.
            reply = await self._client.blpop([reply_key], timeout=self._timeout_s)
        except (RedisError, OSError) as e:
            raise ExchangeError(f"cannot ask the ingest leader to fetch {series}: {e}") from e
        if reply is None:
            raise ExchangeError(f"no ingest leader fetched {series} within {self._timeout_s:g} s")
        answer = orjson.loads(reply[1])
        if answer.get("error"):
            raise ExchangeError(str(answer["error"]))
        floor = answer.get("floor")
        return None if floor is None else int(floor)


class FillServer:
    """The leader's side: requests popped one at a time, each fetched in a task of its own
    (identical ones share the fetch in `Fill`)."""

    def __init__(
        self, client: aioredis.Redis, fill: Fill, clock: Clock, *, keys: Keys = DEFAULT_KEYS
    ) -> None:
        self._client = client
        self._fill = fill
        self._clock = clock
        self._keys = keys
        self._task: asyncio.Task[None] | None = None
        self._serving: KeyedTasks[str, None] = KeyedTasks("fill")

    def start(self) -> None:
        self._task = spawn(self._run(), "fill server")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._serving.cancel_all()

    async def _run(self) -> None:
        while True:
            try:
                popped = await self._client.brpop([self._keys.fills], timeout=_POP_WAIT_S)
            except (RedisError, OSError) as e:
                log.warning("fill server: cannot reach Redis (retried): %s", e)
                await self._clock.sleep(1.0)
                continue
            if popped is None:
                continue
            try:
                request = orjson.loads(popped[1])
                request_id, after, until = str(request["id"]), int(request["a"]), int(request["u"])
                series = parse_series_id(str(request["s"]))
            except (KeyError, ValueError, TypeError, InvalidSeriesId, orjson.JSONDecodeError) as e:
                log.warning("fill server: skipping a request it cannot read: %s", e)
                continue
            self._serving.start(request_id, self._serve(request_id, series, after, until))

    async def _serve(self, request_id: str, series: SeriesId, after: int, until: int) -> None:
        try:
            answer: dict[str, object] = {"floor": await self._fill(series, after, until)}
        except TradeCanvasError as e:  # the venue's refusal, a store that cannot write
            answer = {"error": str(e)}
        reply_key = self._keys.fill_reply(request_id)
        with contextlib.suppress(RedisError, OSError):
            pipe = self._client.pipeline(transaction=False)
            pipe.lpush(reply_key, orjson.dumps(answer))
            pipe.expire(reply_key, _REPLY_TTL_S)
            await pipe.execute()
