"""One WebSocket client as the hub sees it: its subscriptions and a bounded send buffer.

The buffer keeps a slow client from delaying anyone else: publishing only appends here, and
each session's own sender task does the (possibly slow) socket writes. The buffer is bounded
by message count and by bytes. When it is full, forming updates go first; if a closed candle
still does not fit, it is dropped and the client is told with a `gap` message (as soon as
there is room) so it re-reads over HTTP. A reply (a catchup above all) that does not fit
means the client asks for more than it reads: it is closed. A catchup still queued when the
same series is subscribed again is replaced, not queued twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from app.hub import messages
from app.metrics import Metrics
from app.series import next_candle_time

Kind = Literal["candle_closed", "candle_forming", "gap", "control", "catchup"]

# Replies (catchup, error, pong) may exceed the buffer by this much before the client is
# judged too slow or abusive and disconnected.
_CONTROL_SLACK: Final = 64


class SlowConsumer(Exception):
    """The client stopped reading while asking for more replies."""

    def __init__(self, message: str, reason: str, kind: str) -> None:
        super().__init__(message)
        self.reason = reason  # short, for the WebSocket close frame
        self.kind = kind  # for metrics: "not_reading" or "byte_budget"


@dataclass(slots=True)
class _Outgoing:
    kind: Kind
    series_id: str | None
    text: str


@dataclass(slots=True)
class _Subscription:
    timeframe: str
    last_closed: int | None
    # (earliest candle_time this client may be missing, newest time the gap covers).
    pending_gap: tuple[int, int] | None = None


class ClientSession:
    def __init__(
        self,
        client_id: str,
        send_text: Callable[[str], Awaitable[None]],
        *,
        address: str,
        max_queue: int,
        max_bytes: int,
        metrics: Metrics,
    ) -> None:
        self.client_id = client_id
        self.address = address  # who is asking, for per-client limits
        self._send_text = send_text
        self._max_queue = max_queue
        self._max_bytes = max_bytes
        self._queue: deque[_Outgoing] = deque()
        self._queued_bytes = 0
        self._queued_forming: dict[str, _Outgoing] = {}
        self._queued_catchups: dict[str, _Outgoing] = {}
        self._wakeup = asyncio.Event()
        self._subs: dict[str, _Subscription] = {}
        self._gapped = False  # some subscription has a pending gap
        self._sent = {k: metrics.ws_messages_sent.labels(k) for k in _KINDS}
        self._dropped = {k: metrics.ws_messages_dropped.labels(k) for k in _KINDS}

    # -- subscriptions ----------------------------------------------------------------

    @property
    def series_ids(self) -> list[str]:
        return list(self._subs)

    def is_subscribed(self, series_id: str) -> bool:
        return series_id in self._subs

    def add_subscription(self, series_id: str, timeframe: str, last_closed: int | None) -> None:
        self._subs[series_id] = _Subscription(timeframe, last_closed)

    def remove_subscription(self, series_id: str) -> None:
        self._subs.pop(series_id, None)
        for queued_of in (self._queued_forming, self._queued_catchups):
            queued = queued_of.pop(series_id, None)
            if queued is not None:
                self._unqueue(queued)

    def _full(self, extra_bytes: int = 0) -> bool:
        return (
            len(self._queue) >= self._max_queue
            or self._queued_bytes + extra_bytes > self._max_bytes
        )

    # -- offers from the hub (synchronous: they never wait for the socket) ------------

    def offer_control(self, text: str) -> None:
        self._check_reply_fits(len(text))
        self._push(_Outgoing("control", None, text))

    def offer_catchup(self, series_id: str, text: str) -> None:
        """A subscribe's catchup; one still queued for the same series is superseded."""
        stale = self._queued_catchups.pop(series_id, None)
        if stale is not None:
            self._unqueue(stale)
            self._dropped["catchup"].inc()
        self._check_reply_fits(len(text))
        item = _Outgoing("catchup", series_id, text)
        self._queued_catchups[series_id] = item
        self._push(item)

    def _check_reply_fits(self, size: int) -> None:
        if len(self._queue) >= self._max_queue + _CONTROL_SLACK:
            raise SlowConsumer(
                f"client {self.client_id} is not reading its replies",
                "client too slow",
                "not_reading",
            )
        if self._queued_bytes + size > self._max_bytes:
            raise SlowConsumer(
                f"client {self.client_id} has {self._queued_bytes:,} bytes unsent and asks "
                f"for {size:,} more, over its budget of {self._max_bytes:,}",
                f"over the {self._max_bytes} byte send budget",
                "byte_budget",
            )

    def offer_forming(self, series_id: str, candle_time: int, text: str) -> None:
        sub = self._subs.get(series_id)
        if sub is None or (sub.last_closed is not None and candle_time <= sub.last_closed):
            return
        queued = self._queued_forming.get(series_id)
        if queued is not None:
            self._dropped["candle_forming"].inc()
            self._queued_bytes += len(text) - len(queued.text)
            queued.text = text  # coalesce: only the newest forming state matters
            return
        if self._full(len(text)):
            self._dropped["candle_forming"].inc()
            return
        item = _Outgoing("candle_forming", series_id, text)
        self._queued_forming[series_id] = item
        self._push(item)

    def offer_closed(
        self, series_id: str, candle_time: int, text: str, head_before: int | None
    ) -> None:
        """Queue a committed closed candle (`head_before`: see `Bus.closed`). Call
        `flush_gaps` after a batch of offers."""
        sub = self._subs.get(series_id)
        if sub is None:
            return
        last = sub.last_closed
        if last is not None and candle_time <= last:
            # Per series the stream is strictly ascending. A candle committed behind what
            # this client already has is not streamed; the client is told to re-read,
            # unless that commit appended it: then the catchup, read after the commit,
            # held it (a bus across processes delivers such a commit late).
            appended = head_before is None or candle_time > head_before
            if candle_time < last and not appended:
                self._note_gap(sub, candle_time, last)
            return
        expected = None if last is None else next_candle_time(last, sub.timeframe)
        if sub.pending_gap is None and self._full(len(text)):
            self._evict_one_forming()
        if sub.pending_gap is not None or self._full(len(text)):
            self._dropped["candle_closed"].inc()
            self._note_gap(sub, expected if expected is not None else candle_time, candle_time)
        else:
            if expected is not None and candle_time != expected:
                gap = messages.gap(series_id, expected, candle_time)
                self._push(_Outgoing("gap", series_id, gap))
            self._push(_Outgoing("candle_closed", series_id, text))
        sub.last_closed = candle_time

    def _note_gap(self, sub: _Subscription, earliest_missing: int, newest: int) -> None:
        if sub.pending_gap is not None:
            earliest_missing = min(earliest_missing, sub.pending_gap[0])
            newest = max(newest, sub.pending_gap[1])
        sub.pending_gap = (earliest_missing, newest)
        self._gapped = True

    def _evict_one_forming(self) -> None:
        for series_id, item in self._queued_forming.items():
            self._unqueue(item)
            del self._queued_forming[series_id]
            self._dropped["candle_forming"].inc()
            return

    def flush_gaps(self) -> None:
        """Queue a `gap` for every series with missed candles, while there is room."""
        if not self._gapped:
            return
        self._gapped = False
        for series_id, sub in self._subs.items():
            if sub.pending_gap is None:
                continue
            if self._full(_GAP_BYTES):
                self._gapped = True
                continue
            expected, actual = sub.pending_gap
            sub.pending_gap = None
            self._push(_Outgoing("gap", series_id, messages.gap(series_id, expected, actual)))

    def abandon(self) -> None:
        """Drop everything unsent: the client is being closed, and its close frame should
        not wait behind data it did not read."""
        self._queue.clear()
        self._queued_forming.clear()
        self._queued_catchups.clear()
        self._queued_bytes = 0

    def _push(self, item: _Outgoing) -> None:
        self._queue.append(item)
        self._queued_bytes += len(item.text)
        self._wakeup.set()

    def _unqueue(self, item: _Outgoing) -> None:
        self._queue.remove(item)
        self._queued_bytes -= len(item.text)

    # -- the sender task --------------------------------------------------------------

    async def run_sender(self) -> None:
        """Write queued messages to the socket until cancelled or the socket fails."""
        queue = self._queue
        while True:
            if not queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = queue.popleft()
            self._queued_bytes -= len(item.text)
            if item.series_id is not None:
                if item.kind == "candle_forming":
                    self._queued_forming.pop(item.series_id, None)
                elif item.kind == "catchup" and self._queued_catchups.get(item.series_id) is item:
                    del self._queued_catchups[item.series_id]
            await self._send_text(item.text)
            self._sent[item.kind].inc()
            self.flush_gaps()


_KINDS: Final[tuple[Kind, ...]] = ("candle_closed", "candle_forming", "gap", "control", "catchup")
# Room a `gap` message needs (they are small and of nearly fixed size).
_GAP_BYTES: Final = 160
