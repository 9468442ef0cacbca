"""`WS /ws/market`: subscribe, unsubscribe, ping. Bad input gets an `error` message, not a
disconnect; only oversized frames (1009), clients that stop reading or go over their byte
budget (1008) and clients that keep flooding past the message rate (1008) are closed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from app.admission import Admission
from app.api.deps import (
    AdmissionDep,
    ClockDep,
    MetricsDep,
    SettingsDep,
    SubscriptionsDep,
    WsConnectionsDep,
    client_address,
)
from app.api.responses import error_response
from app.clock import Clock
from app.config import Settings
from app.errors import ClientError, StoreError, TooManySubscriptions
from app.hub import ClientSession, SlowConsumer, messages
from app.metrics import Metrics
from app.ratelimit import TokenBucket
from app.reads.subscriptions import Subscriptions
from app.series import SeriesId, parse_series_id
from app.tasks import spawn

log = logging.getLogger(__name__)
router = APIRouter()

_client_ids = itertools.count(1)
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
# Messages dropped in a row (over the rate) after which the client is closed: by then it
# is not a burst but a flood that only costs the server reading it.
FLOOD_CLOSE_AFTER = 1_000


class BadMessage(ClientError):
    code = "bad_message"


class UnknownType(ClientError):
    code = "unknown_type"


@router.websocket("/ws/market")
async def market_ws(
    websocket: WebSocket,
    settings: SettingsDep,
    metrics: MetricsDep,
    admission: AdmissionDep,
    subscriptions: SubscriptionsDep,
    clock: ClockDep,
    connections: WsConnectionsDep,
) -> None:
    address = client_address(websocket)
    if not connections.enter(address):
        metrics.ws_clients_refused.labels("connections_per_address").inc()
        message = f"at most {connections.limit} WebSocket connections per client address"
        await _deny(websocket, 429, "too_many_connections", message)
        return
    try:
        await _serve(websocket, address, settings, metrics, admission, subscriptions, clock)
    finally:
        connections.leave(address)


async def _serve(
    websocket: WebSocket,
    address: str,
    settings: Settings,
    metrics: Metrics,
    admission: Admission,
    subscriptions: Subscriptions,
    clock: Clock,
) -> None:
    await websocket.accept()
    client_id = f"ws-{next(_client_ids)}"
    session = ClientSession(
        client_id,
        websocket.send_text,
        address=address,
        max_queue=settings.ws.send_queue_max,
        max_bytes=settings.ws.send_queue_max_bytes,
        metrics=metrics,
    )
    sender = asyncio.create_task(session.run_sender(), name=f"{client_id}-sender")
    sender.add_done_callback(_log_sender_end)
    metrics.ws_clients.inc()
    handler = _Handler(websocket, session, settings, metrics, admission, subscriptions)
    try:
        limit = _RateLimit(settings.ws.messages_per_s, settings.ws.message_burst, session,
                           metrics, clock)  # fmt: skip
        await _receive_loop(websocket, handler, settings.ws.max_message_bytes, sender, limit)
    except SlowConsumer as e:
        await handler.too_slow(e)
    finally:
        metrics.ws_clients.dec()
        sender.cancel()
        await handler.cancel_pending()
        await subscriptions.disconnect(session)


async def _receive_loop(
    websocket: WebSocket,
    handler: _Handler,
    max_bytes: int,
    sender: asyncio.Task[None],
    limit: _RateLimit,
) -> None:
    receive = asyncio.ensure_future(websocket.receive())
    try:
        while True:
            # Wait for the next frame, for the sender to die (the socket broke), or for a
            # subscribe task to find the client over budget.
            await asyncio.wait(
                (receive, sender, handler.closed), return_when=asyncio.FIRST_COMPLETED
            )
            if not receive.done():
                return
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                return
            raw: str | bytes | None = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            if len(raw) > max_bytes:
                await _close(websocket, CLOSE_TOO_BIG, f"message larger than {max_bytes} bytes")
                return
            if limit.allows():
                await handler.handle(raw)
            elif limit.flooding:
                limit.closing()
                await _close(websocket, CLOSE_POLICY, "message rate limit exceeded")
                return
            receive = asyncio.ensure_future(websocket.receive())
    except WebSocketDisconnect:
        return
    finally:
        receive.cancel()


class _Handler:
    """One connection's messages. A subscribe may wait (for an import or a download), so
    each runs as its own task: pings and other series are answered meanwhile. Operations on
    one series stay in order: a subscribe waits for the one before it, and an unsubscribe
    cancels a subscribe still waiting."""

    def __init__(
        self,
        websocket: WebSocket,
        session: ClientSession,
        settings: Settings,
        metrics: Metrics,
        admission: Admission,
        subscriptions: Subscriptions,
    ) -> None:
        self._websocket = websocket
        self._session = session
        self._metrics = metrics
        self._admission = admission
        self._subscriptions = subscriptions
        self._client = session.address
        self._max_subscriptions = settings.ws.max_subscriptions
        self._pending: dict[str, asyncio.Task[None]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing = False

    async def handle(self, raw: str | bytes) -> None:
        series_id: str | None = None
        try:
            msg = _decode(raw)
            kind = msg.get("type")
            if kind == "ping":
                self._session.offer_control(messages.PONG)
                return
            if kind not in ("subscribe", "unsubscribe"):
                raise UnknownType(f"unknown message type {kind!r}")
            raw_series = msg.get("series_id")
            series_id = raw_series if isinstance(raw_series, str) else None
            series = parse_series_id(raw_series)
            key = str(series)
            if kind == "unsubscribe":
                previous = self._pending.pop(key, None)
                if previous is not None:
                    previous.cancel()
                    await asyncio.gather(previous, return_exceptions=True)
                await self._subscriptions.unsubscribe(self._session, key)
                return
            since = msg.get("since")
            if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
                raise BadMessage("since must be an integer (epoch seconds) or absent")
            if len({*self._session.series_ids, *self._pending, key}) > self._max_subscriptions:
                raise TooManySubscriptions(
                    f"at most {self._max_subscriptions} subscriptions per connection"
                )
            task = spawn(
                self._subscribe(series, since, self._pending.get(key)),
                f"{self._session.client_id} subscribe {key}",
            )
            task.add_done_callback(partial(self._done, key))
            self._pending[key] = task
        except ClientError as e:
            self._session.offer_control(messages.error(e.code, str(e), series_id))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]

    async def _subscribe(
        self, series: SeriesId, since: int | None, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        series_id = str(series)
        try:
            try:
                await self._admission.admit(series, self._client)
                await self._subscriptions.subscribe(self._session, series, since)
            except ClientError as e:
                self._session.offer_control(messages.error(e.code, str(e), series_id))
            except StoreError as e:
                log.error("store failure while serving %s: %s", self._session.client_id, e)
                self._session.offer_control(messages.error("store_unavailable", str(e), series_id))
        except SlowConsumer as e:
            await self.too_slow(e)

    async def too_slow(self, e: SlowConsumer) -> None:
        """Close the client for what it would not read; only once, however many of its
        subscribes find it over budget at the same time."""
        if self._closing:
            return
        self._closing = True
        log.warning("%s", e)
        self._session.abandon()
        self._metrics.ws_clients_closed.labels(e.kind).inc()
        await _close(self._websocket, CLOSE_POLICY, e.reason)
        # Only now: the receive loop then ends the connection, cancelling this task's
        # siblings, and this close frame must be on its way first.
        if not self.closed.done():
            self.closed.set_result(None)

    async def cancel_pending(self) -> None:
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _RateLimit:
    """Messages over the rate are dropped, with one `rate_limited` error per second."""

    def __init__(
        self, rate_per_s: float, burst: int, session: ClientSession, metrics: Metrics, clock: Clock
    ) -> None:
        self._bucket = TokenBucket(rate_per_s, burst, clock)
        self._clock = clock
        self._session = session
        self._metrics = metrics
        self._rate = rate_per_s
        self._dropped_in_a_row = 0
        self._last_notice = float("-inf")

    @property
    def flooding(self) -> bool:
        return self._dropped_in_a_row >= FLOOD_CLOSE_AFTER

    def closing(self) -> None:
        self._metrics.ws_clients_closed.labels("flood").inc()

    def allows(self) -> bool:
        if self._bucket.take():
            self._dropped_in_a_row = 0
            return True
        self._dropped_in_a_row += 1
        self._metrics.ws_client_messages_rate_limited.inc()
        now = self._clock.monotonic()
        if now - self._last_notice >= 1.0:
            self._last_notice = now
            self._session.offer_control(
                messages.error(
                    "rate_limited",
                    f"more than {self._rate:g} messages per second; this one was dropped",
                )
            )
        return False


def _decode(raw: str | bytes) -> dict[str, Any]:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadMessage(f"message is not valid JSON: {e}") from e
    if not isinstance(msg, dict):
        raise BadMessage('message must be a JSON object with a "type"')
    return msg


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    """Refuse an upgrade with an HTTP answer (or a close, where the server cannot send one)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(websocket, status, code, message))
    else:
        await websocket.close(CLOSE_POLICY, message)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # the peer may have closed first
        await websocket.close(code, reason)


def _log_sender_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
        log.warning("%s ended: %r", task.get_name(), exc)
