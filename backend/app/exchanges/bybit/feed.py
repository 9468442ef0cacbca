"""Bybit's v5 public kline streams as a `LiveFeed`: one endpoint per category
(`/v5/public/spot`, `/v5/public/linear`), `subscribe` / `unsubscribe` ops (at most 10 args
per spot request), and the client's `{"op": "ping"}` heartbeat every 20 seconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import orjson

from app.exchanges.bybit.parser import INTERVALS, BybitReply, parse_frame
from app.exchanges.ports import Action, FeedEvent, FeedLimits, RequestRefused
from app.series import Market, SeriesId

# Bybit: at most 500 connections per 5 minutes per IP; spot takes 10 args per request.
# Bybit states no topic count per connection; 200 keeps one reconnect's subscribes short.
# A kline push's `data` list holds the topic's kline (at a boundary, the close and the next
# candle's first state); a few more are allowed, thousands are not Bybit's.
_LIMITS = FeedLimits(
    topics_per_connection=200,
    topics_per_request=10,
    requests_per_s=10.0,
    connects_per_5min=400,
    max_connection_age_s=None,
    heartbeat_s=20.0,
    klines_per_frame=4,
)
_PING = orjson.dumps({"op": "ping"}).decode()


@dataclass(frozen=True, slots=True)
class BybitFeed:
    market: Market
    url: str
    topics_per_connection: int = 200

    @property
    def limits(self) -> FeedLimits:
        return replace(_LIMITS, topics_per_connection=self.topics_per_connection)

    @property
    def name(self) -> str:
        return f"bybit-{self.market}"

    def topic(self, series: SeriesId) -> str:
        return f"kline.{INTERVALS[series.timeframe]}.{bybit_symbol(series)}"

    def parse(self, raw: str | bytes) -> Sequence[FeedEvent]:
        frame = parse_frame(raw)
        if isinstance(frame, BybitReply):
            if frame.success:
                return ()
            return (RequestRefused(f"{frame.op}: {frame.message}"),)
        return frame

    def request(self, action: Action, topics: Sequence[str], request_id: int) -> str:
        request = {"req_id": str(request_id), "op": action, "args": list(topics)}
        return orjson.dumps(request).decode()

    def heartbeat(self) -> str | None:
        return _PING


def bybit_symbol(series: SeriesId) -> str:
    """Bybit's name for a pair, spot or linear: `BTCUSDT` for `BTC/USDT`, `BTC/USDT:USDT`."""
    return f"{series.base}{series.quote}"
