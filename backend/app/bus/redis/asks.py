"""Asks: work only the leader may do (fetch from a venue, write), asked of it by any
process. The asker pushes a request on a list and waits on a reply key of its own; the
leader pops requests, runs each in a task of its own with the handler of its kind, and
answers on that key. An answer is a JSON object; a handler's refusal travels as
`{"error": message, "error_kind": kind}` and is raised again on the asking side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.bus.redis.keys import DEFAULT_KEYS, Keys
from app.clock import Clock
from app.errors import BusError, ExchangeError, StoreError, TradeCanvasError, UpstreamRateLimited
from app.tasks import KeyedTasks, spawn

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

_REPLY_TTL_S: Final = 60
_POP_WAIT_S: Final = 1
# A refusal's kind on the wire, and the error it is raised as again (the first that fits).
_KINDS: Final[Mapping[str, type[TradeCanvasError]]] = {
    "rate_limited": UpstreamRateLimited,
    "exchange": ExchangeError,
    "store": StoreError,
}


class LeaderAsk:
    """The asking side."""

    def __init__(self, client: aioredis.Redis, *, keys: Keys = DEFAULT_KEYS) -> None:
        self._client = client
        self._keys = keys

    async def __call__(
        self, kind: str, payload: dict[str, Any], timeout_s: float
    ) -> dict[str, Any]:
        """The leader's answer. Raises `BusError` when no leader answers in time, or the
        error the leader's handler raised (an `ExchangeError`, a `StoreError`)."""
        request_id = uuid.uuid4().hex
        request = orjson.dumps({"id": request_id, "kind": kind, "payload": payload})
        reply_key = self._keys.ask_reply(request_id)
        try:
            await self._client.lpush(self._keys.asks, request)
            reply = await self._client.blpop([reply_key], timeout=timeout_s)
        except (RedisError, OSError) as e:
            raise BusError(f"cannot ask the ingest leader ({kind}): {e}") from e
        if reply is None:
            raise BusError(f"no ingest leader answered ({kind}) within {timeout_s:g} s")
        answer: dict[str, Any] = orjson.loads(reply[1])
        if "error" in answer:
            kind = answer.get("error_kind", "")
            if kind == "rate_limited":  # the venue's limit: when to ask again travels too
                raise UpstreamRateLimited(str(answer["error"]), float(answer["retry_after_s"]))
            raise _KINDS.get(kind, BusError)(str(answer["error"]))
        return answer


class LeaderAnswers:
    """The leader's side."""

    def __init__(
        self,
        client: aioredis.Redis,
        handlers: Mapping[str, Handler],
        clock: Clock,
        *,
        keys: Keys = DEFAULT_KEYS,
    ) -> None:
        self._client = client
        self._handlers = handlers
        self._clock = clock
        self._keys = keys
        self._task: asyncio.Task[None] | None = None
        self._serving: KeyedTasks[str, None] = KeyedTasks("ask")

    def start(self) -> None:
        self._task = spawn(self._run(), "leader answers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._serving.cancel_all()

    async def _run(self) -> None:
        while True:
            try:
                popped = await self._client.brpop([self._keys.asks], timeout=_POP_WAIT_S)
            except (RedisError, OSError) as e:
                log.warning("leader answers: cannot reach Redis (retried): %s", e)
                await self._clock.sleep(1.0)
                continue
            if popped is None:
                continue
            try:
                request = orjson.loads(popped[1])
                request_id, payload = str(request["id"]), dict(request["payload"])
                handler = self._handlers[str(request["kind"])]
            except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as e:
                log.warning("leader answers: skipping a request it cannot read: %r", e)
                continue
            self._serving.start(request_id, self._answer(request_id, handler, payload))

    async def _answer(self, request_id: str, handler: Handler, payload: dict[str, Any]) -> None:
        try:
            answer = await handler(payload)
        except TradeCanvasError as e:
            kind = next((k for k, t in _KINDS.items() if isinstance(e, t)), "")
            answer = {"error": str(e), "error_kind": kind}
            if isinstance(e, UpstreamRateLimited):
                answer["retry_after_s"] = e.retry_after_s
        except (KeyError, ValueError, TypeError) as e:  # a request of the wrong shape
            answer = {"error": f"unreadable request: {e!r}", "error_kind": ""}
        reply_key = self._keys.ask_reply(request_id)
        with contextlib.suppress(RedisError, OSError):
            pipe = self._client.pipeline(transaction=False)
            pipe.lpush(reply_key, orjson.dumps(answer))
            pipe.expire(reply_key, _REPLY_TTL_S)
            await pipe.execute()
