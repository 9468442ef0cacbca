"""OKX's v5 business stream as a `LiveFeed`: `candle<bar>` channels of instrument ids (and
a swap's `mark-price-candle<bar>` and `index-candle<bar>`, one feed per kind),
`subscribe` / `unsubscribe` ops with `{channel, instId}` args, and the text heartbeat
(`ping`, answered `pong`): OKX drops a connection that hears nothing for 30 seconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import orjson

from app.exchanges.okx.parser import OkxEvent, parse_frame
from app.exchanges.okx.wire import candle_channel, streamed_inst, topic
from app.exchanges.ports import (
    Action,
    FeedEvent,
    FeedLimits,
    PlannedReconnect,
    RequestRefused,
)
from app.series import CandleType, SeriesId

# OKX: 3 connection requests per second per IP, 480 subscribe requests per hour per
# connection, a request's args at most 64 KB. Pushes carry one candle (a boundary: two).
_LIMITS = FeedLimits(
    topics_per_connection=200,
    topics_per_request=50,
    requests_per_s=3.0,
    connects_per_5min=300,
    max_connection_age_s=None,
    heartbeat_s=20.0,
    klines_per_frame=2,
    connects_per_s=3,
    requests_per_hour=480,
)


@dataclass(frozen=True, slots=True)
class OkxFeed:
    market: CandleType
    url: str
    topics_per_connection: int = 200

    @property
    def limits(self) -> FeedLimits:
        return replace(_LIMITS, topics_per_connection=self.topics_per_connection)

    @property
    def name(self) -> str:
        return f"okx-{self.market}"

    def topic(self, series: SeriesId) -> str:
        return topic(candle_channel(series.timeframe, series.market), streamed_inst(series))

    def parse(self, raw: str | bytes) -> Sequence[FeedEvent]:
        frame = parse_frame(raw)
        if isinstance(frame, OkxEvent):
            if frame.event == "notice":  # a service upgrade closes the connection soon
                return (PlannedReconnect(f"notice {frame.code}: {frame.message}"),)
            if not frame.refused:
                return ()
            return (RequestRefused(f"error {frame.code}: {frame.message}"),)
        return frame

    def request(self, action: Action, topics: Sequence[str], request_id: int) -> str:
        args = [dict(zip(("channel", "instId"), t.split(":", 1), strict=True)) for t in topics]
        return orjson.dumps({"id": str(request_id), "op": action, "args": args}).decode()

    def heartbeat(self) -> str | None:
        return "ping"
