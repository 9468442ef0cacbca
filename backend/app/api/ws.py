"""`WS /ws/market`: subscribe, unsubscribe, ping. Bad input gets an `error` message, not a
disconnect; only oversized frames (1009), clients that stop reading (1008) and clients that
keep flooding past the message rate (1008) are closed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from app.api.deps import ServicesDep
from app.api.ratelimit import TokenBucket
from app.errors import ClientError, StoreError
from app.hub import ClientSession, MarketHub, SlowConsumer, messages
from app.metrics import Metrics
from app.series import parse_series_id

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
async def market_ws(websocket: WebSocket, services: ServicesDep) -> None:
    settings = services.settings
    await websocket.accept()
    client_id = f"ws-{next(_client_ids)}"
    session = ClientSession(
        client_id,
        websocket.send_text,
        max_queue=settings.ws_send_queue_max,
        metrics=services.metrics,
    )
    sender = asyncio.create_task(session.run_sender(), name=f"{client_id}-sender")
    sender.add_done_callback(_log_sender_end)
    services.metrics.ws_clients.inc()
    try:
        bucket = TokenBucket(settings.ws_messages_per_s, settings.ws_message_burst)
        limit = _RateLimit(bucket, session, services.metrics, settings.ws_messages_per_s)
        await _receive_loop(
            websocket, session, services.hub, settings.ws_max_message_bytes, sender, limit
        )
    except SlowConsumer as e:
        log.warning("%s", e)
        await _close(websocket, CLOSE_POLICY, "client too slow")
    finally:
        services.metrics.ws_clients.dec()
        sender.cancel()
        await services.hub.disconnect(session)


async def _receive_loop(
    websocket: WebSocket,
    session: ClientSession,
    hub: MarketHub,
    max_bytes: int,
    sender: asyncio.Task[None],
    limit: _RateLimit,
) -> None:
    receive = asyncio.ensure_future(websocket.receive())
    try:
        while True:
            # Wait for the next frame, or for the sender to die (the socket broke).
            await asyncio.wait((receive, sender), return_when=asyncio.FIRST_COMPLETED)
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
                await _handle(raw, session, hub)
            elif limit.flooding:
                await _close(websocket, CLOSE_POLICY, "message rate limit exceeded")
                return
            receive = asyncio.ensure_future(websocket.receive())
    except WebSocketDisconnect:
        return
    finally:
        receive.cancel()


async def _handle(raw: str | bytes, session: ClientSession, hub: MarketHub) -> None:
    series_id: str | None = None
    try:
        msg = _decode(raw)
        kind = msg.get("type")
        if kind == "ping":
            session.offer_control(messages.PONG)
            return
        if kind not in ("subscribe", "unsubscribe"):
            raise UnknownType(f"unknown message type {kind!r}")
        raw_series = msg.get("series_id")
        series_id = raw_series if isinstance(raw_series, str) else None
        series = parse_series_id(raw_series)
        if kind == "unsubscribe":
            await hub.unsubscribe(session, str(series))
            return
        since = msg.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise BadMessage("since must be an integer (epoch seconds) or absent")
        await hub.subscribe(session, series, since)
    except ClientError as e:
        session.offer_control(messages.error(e.code, str(e), series_id))
    except StoreError as e:
        log.error("store failure while serving %s: %s", session.client_id, e)
        session.offer_control(messages.error("store_unavailable", str(e), series_id))


class _RateLimit:
    """Messages over the rate are dropped, with one `rate_limited` error per second."""

    def __init__(
        self, bucket: TokenBucket, session: ClientSession, metrics: Metrics, rate_per_s: float
    ) -> None:
        self._bucket = bucket
        self._session = session
        self._metrics = metrics
        self._rate = rate_per_s
        self._dropped_in_a_row = 0
        self._last_notice = float("-inf")

    @property
    def flooding(self) -> bool:
        return self._dropped_in_a_row >= FLOOD_CLOSE_AFTER

    def allows(self) -> bool:
        if self._bucket.take():
            self._dropped_in_a_row = 0
            return True
        self._dropped_in_a_row += 1
        self._metrics.ws_client_messages_rate_limited.inc()
        now = time.monotonic()
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


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # the peer may have closed first
        await websocket.close(code, reason)


def _log_sender_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
        log.warning("%s ended: %r", task.get_name(), exc)
