"""FeedConnection: one live connection to a venue, written once for every venue (the feed
says what to send and what a frame means). It subscribes in as few requests as the
venue's limits allow, reconnects with backoff within its connection-rate limit, sends its
heartbeat, and ends a connection that went silent or nears the venue's age cut."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from collections.abc import Sequence
from typing import Literal, Protocol

from app.clock import Clock
from app.errors import StreamBroken
from app.exchanges.ports import (
    Action,
    FeedEvent,
    FrameError,
    KlineEvent,
    LiveFeed,
    PlannedReconnect,
    RequestRefused,
)
from app.ingest.failures import FailureLog
from app.ingest.live.options import IngestOptions
from app.ingest.live.transport import FeedSocket, FeedTransport
from app.ingest.live.windows import WindowLimiter
from app.ingest.metrics import IngestMetrics
from app.logs import log_task_as
from app.series import CandleType
from app.tasks import spawn

log = logging.getLogger(__name__)

ConnectionState = Literal["connecting", "open", "backoff", "stopped"]


class ConnectionOwner(Protocol):
    """What a connection needs of the ingest it feeds."""

    exchange: str
    market: CandleType
    feed: LiveFeed
    transport: FeedTransport
    clock: Clock
    options: IngestOptions
    metrics: IngestMetrics
    attempts: WindowLimiter  # connection attempts, across all of the venue's connections
    failures: FailureLog

    def connected(self, connection: FeedConnection) -> None:
        """A session opened (and subscribed): its series may have missed candles."""

    def admitted(self, events: Sequence[FeedEvent], where: str) -> Sequence[FeedEvent]:
        """A parsed frame's events, or none if the frame is not one the venue sends."""

    def on_kline(self, update: KlineEvent) -> None: ...


class FeedConnection:
    """One WebSocket connection of a venue's market: its session (subscriptions kept to
    what it should stream), its watchdog and heartbeat, and reconnects with backoff."""

    def __init__(self, owner: ConnectionOwner, number: int) -> None:
        self._owner = owner
        self.feed = owner.feed
        self.clock = owner.clock
        self.name = f"{self.feed.name}-ws-{number}"
        self.topics: set[str] = set()  # what this connection should stream
        self._subscribed: set[str] = set()  # what this session has asked the venue for
        self._topics_changed = asyncio.Event()
        self.state: ConnectionState = "connecting"
        self.socket: FeedSocket | None = None
        self.connected_at: float | None = None
        self.reconnects = 0
        self.frames = 0
        self.last_error: str | None = None
        self._request_id = 0
        self._last_request = -1e9
        self._last_frame = 0.0
        self._ending: Literal["stale", "age"] | None = None
        self._send_lock = asyncio.Lock()
        self._requests = WindowLimiter([(self.feed.limits.requests_per_hour or 0, 3600.0)],
                                       self.clock)  # fmt: skip
        self.task = spawn(self._run(), self.name)

    def add(self, topic: str) -> None:
        self.topics.add(topic)
        self._topics_changed.set()

    def remove(self, topic: str) -> None:
        self.topics.discard(topic)
        self._topics_changed.set()

    async def _subscribe_changes(self) -> None:
        """Ask the venue for what `topics` holds and no more, in as few requests as its
        limits allow: a whitelist of a thousand series added one request each would take
        minutes at the venue's request rate. Each request is cut from what `topics` holds
        once the venue's rate lets it go, so the topics added meanwhile go with it."""
        step = self.feed.limits.topics_per_request
        while self._subscribed != self.topics:
            await self._requests.wait()
            await self._request_slot()
            drop = heapq.nsmallest(step, self._subscribed - self.topics)
            take = heapq.nsmallest(step, self.topics - self._subscribed)
            if not drop and not take:
                return
            action: Action = "unsubscribe" if drop else "subscribe"
            chunk = drop or take
            self._request_id += 1
            await self._send(self.feed.request(action, chunk, self._request_id))
            if action == "subscribe":
                self._subscribed.update(chunk)
            else:
                self._subscribed.difference_update(chunk)

    async def _follow_topics(self) -> None:
        while True:
            await self._topics_changed.wait()
            self._topics_changed.clear()
            await self._subscribe_changes()

    async def _request_slot(self) -> None:
        """Wait until the venue's incoming-message limit lets the next message go."""
        wait = self._last_request + 1.0 / self.feed.limits.requests_per_s
        wait -= self.clock.monotonic()
        if wait > 0:
            await self.clock.sleep(wait)

    async def _send(self, text: str) -> None:
        """Send if connected, never faster than the venue's incoming-message limit."""
        async with self._send_lock:
            socket = self.socket
            if socket is None:
                return
            await self._request_slot()
            self._last_request = self.clock.monotonic()
            with contextlib.suppress(StreamBroken):  # the reader sees it too, and reconnects
                await socket.send(text)

    async def _run(self) -> None:
        log_task_as(venue=self._owner.exchange)
        options = self._owner.options
        metrics = self._owner.metrics
        attempt = 0
        while True:
            await self._owner.attempts.wait()
            self.state = "connecting"
            planned = False
            opened: float | None = None
            self._ending = None  # a failed connect is not the last session's ending
            try:
                async with self._owner.transport.open(self.feed.url) as socket:
                    opened = self.clock.monotonic()
                    self.socket, self.state = socket, "open"
                    self.connected_at = self.clock.time()
                    self.last_error = None
                    self._owner.failures.recovered(self.name)
                    planned = await self._session(socket, opened)
            except asyncio.CancelledError:
                self.state = "stopped"
                raise
            except StreamBroken as e:
                if self._ending == "stale":
                    self.last_error = f"no frame for {options.stale_s:g}s"
                elif self._ending == "age":
                    planned = True
                else:
                    self.last_error = str(e)
            finally:
                self.socket = None
            self.reconnects += 1
            metrics.reconnects.labels(self._owner.exchange, self._owner.market).inc()
            if opened is not None and self.clock.monotonic() - opened >= options.healthy_s:
                attempt = 0
            if planned:
                delay = 0.0
            else:
                delay = min(options.backoff_max_s, options.backoff_initial_s * 2**attempt)
                delay *= random.uniform(0.5, 1.5)
                attempt += 1
                self._owner.failures.failed(self.name, self.last_error or "closed", delay)
            self.state = "backoff"
            await self.clock.sleep(delay)

    async def _session(self, socket: FeedSocket, opened: float) -> bool:
        """Subscribe, then read until the connection ends. True for a planned reconnect
        (announced by the venue, or ahead of its connection-age cut)."""
        self._last_frame = opened
        watchdog = spawn(self._watch(socket, opened), f"{self.name} watchdog")
        follower: asyncio.Task[None] | None = None
        try:
            self._subscribed.clear()  # a new session has asked for nothing yet
            self._topics_changed.clear()
            await self._subscribe_changes()
            self._owner.connected(self)
            follower = spawn(self._follow_topics(), f"{self.name} subscriptions")
            return await self._read(socket)
        finally:
            watchdog.cancel()
            if follower is not None:
                follower.cancel()

    async def _watch(self, socket: FeedSocket, opened: float) -> None:
        """Send the venue's heartbeat on time; end a connection that went silent, or that
        nears the venue's age cut, by aborting it (the read loop then ends)."""
        stale_s = self._owner.options.stale_s
        limits = self.feed.limits
        period = stale_s / 4
        if limits.heartbeat_s is not None:
            period = min(period, limits.heartbeat_s)
        beat = self.feed.heartbeat()
        last_beat = opened
        while True:
            await self.clock.sleep(period)
            now = self.clock.monotonic()
            if now - self._last_frame > stale_s:
                self._ending = "stale"
            elif limits.max_connection_age_s is not None and (
                now - opened > limits.max_connection_age_s
            ):
                log.info("%s: reconnecting ahead of the connection-age cut", self.name)
                self._ending = "age"
            if self._ending is not None:
                socket.abort()
                return
            heartbeat_s = limits.heartbeat_s
            if beat is not None and heartbeat_s is not None and now - last_beat >= heartbeat_s:
                last_beat = now
                await self._send(beat)

    async def _read(self, socket: FeedSocket) -> bool:
        owner = self._owner
        async for raw in socket:
            self._last_frame = self.clock.monotonic()
            self.frames += 1
            try:
                events = self.feed.parse(raw)
            except FrameError as e:
                owner.metrics.bad_frames.labels(owner.exchange, owner.market).inc()
                log.debug("%s: ignoring a bad frame: %s", self.name, e)
                continue
            for event in owner.admitted(events, self.name):
                if isinstance(event, KlineEvent):
                    owner.on_kline(event)
                elif isinstance(event, PlannedReconnect):
                    log.info("%s: %s, reconnecting", self.name, event.reason)
                    return True
                elif isinstance(event, RequestRefused):
                    log.warning("%s: refused: %s", self.name, event.reason)
        if self._ending is not None:  # aborted by the watchdog
            raise StreamBroken(self._ending)
        return False
