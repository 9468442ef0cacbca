"""Binance's kline streams as a `LiveFeed`: combined streams on `/stream`, SUBSCRIBE and
UNSUBSCRIBE requests, server-sent pings (answered by the WebSocket library), and the
`serverShutdown` announcement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from app.exchanges.binance.parser import Reply, ServerShutdown, parse_frame
from app.exchanges.ports import (
    Action,
    FeedEvent,
    FeedLimits,
    KlineEvent,
    PlannedReconnect,
    RequestRefused,
)
from app.series import Market, SeriesId

# Binance: 1,024 streams per connection, 300 connection attempts per 5 minutes, 5 (spot)
# or 10 (futures) incoming messages a second, and a cut at 24 hours. Stay under each.
_REQUESTS_PER_S: dict[Market, float] = {"spot": 4.0, "futures": 8.0}


@dataclass(frozen=True, slots=True)
class BinanceFeed:
    market: Market
    ws_url: str
    topics_per_connection: int = 1024
    max_connection_age_s: float = 23.5 * 3600

    @property
    def name(self) -> str:
        return f"binance-{self.market}"

    @property
    def url(self) -> str:
        return self.ws_url.rstrip("/") + "/stream"

    @property
    def limits(self) -> FeedLimits:
        return FeedLimits(
            topics_per_connection=self.topics_per_connection,
            topics_per_request=200,
            requests_per_s=_REQUESTS_PER_S[self.market],
            connects_per_5min=250,
            max_connection_age_s=self.max_connection_age_s,
            heartbeat_s=None,
            klines_per_frame=1,  # a kline event carries one kline
        )

    def topic(self, series: SeriesId) -> str:
        return f"{binance_symbol(series).lower()}@kline_{series.timeframe}"

    def request(self, action: Action, topics: Sequence[str], request_id: int) -> str:
        return orjson.dumps(
            {"method": action.upper(), "params": list(topics), "id": request_id}
        ).decode()

    def heartbeat(self) -> str | None:
        return None

    def parse(self, raw: str | bytes) -> Sequence[FeedEvent]:
        frame = parse_frame(raw)
        if isinstance(frame, KlineEvent):
            return (frame,)
        if isinstance(frame, ServerShutdown):
            return (PlannedReconnect("server shutdown announced"),)
        if isinstance(frame, Reply) and frame.error is not None:
            return (RequestRefused(f"request {frame.id}: {frame.error}"),)
        return ()


def binance_symbol(series: SeriesId) -> str:
    """Binance's name for a pair, spot or USDT-M: `BTCUSDT` for `BTC/USDT`, `BTC/USDT:USDT`."""
    return f"{series.base}{series.quote}"
