"""Binance market-stream frames to values: a pure function, no I/O.

Handles combined (`{"stream", "data"}`) and raw frames, kline payloads (string prices),
subscription replies, `serverShutdown`, and anything else a combined connection carries
(depth, trades, tickers), which is classified and ignored. Malformed frames raise
`FrameError`; the caller counts them and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.candle import Candle
from app.exchanges.frames import int_field, json_object, kline_candle
from app.exchanges.ports import FrameError
from app.series import TIMEFRAMES

__all__ = ["FrameError", "KlineUpdate", "OtherEvent", "Reply", "ServerShutdown", "parse_frame"]


@dataclass(frozen=True, slots=True)
class KlineUpdate:
    symbol: str  # the exchange's symbol, e.g. BTCUSDT
    interval: str
    closed: bool
    candle: Candle
    event_time_ms: int

    @property
    def stream(self) -> str:
        return f"{self.symbol.lower()}@kline_{self.interval}"


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request."""

    id: int | None
    result: Any
    error: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    event_time_ms: int


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A stream this project does not use (depth, trades, tickers, ...)."""

    kind: str


Frame = KlineUpdate | Reply | ServerShutdown | OtherEvent


def parse_frame(raw: str | bytes) -> Frame:
    msg = json_object(raw)
    if "result" in msg or "error" in msg:
        rid = msg.get("id")
        error = msg.get("error")
        return Reply(rid if isinstance(rid, int) else None, msg.get("result"),
                     error if isinstance(error, dict) else None)  # fmt: skip
    stream_kind = None
    event = msg.get("event")
    if isinstance(event, dict):
        msg = event
    elif "stream" in msg:
        data = msg.get("data")
        if not isinstance(data, dict):
            raise FrameError("combined frame without a data object")
        stream_kind = str(msg["stream"]).split("@", 1)[-1]
        msg = data
    kind = msg.get("e")
    if kind == "kline":
        return _kline(msg)
    if kind == "serverShutdown":
        return ServerShutdown(int_field(msg, "E"))
    if isinstance(kind, str):
        return OtherEvent(kind)
    if stream_kind:  # e.g. spot bookTicker payloads carry no event type
        return OtherEvent(stream_kind)
    if "lastUpdateId" in msg:
        return OtherEvent("depthSnapshot")
    raise FrameError("frame has no event type")


def _kline(msg: dict[str, Any]) -> KlineUpdate:
    k = msg.get("k")
    if not isinstance(k, dict):
        raise FrameError("kline event without k")
    interval = k.get("i")
    if interval not in TIMEFRAMES:
        raise FrameError(f"kline with unknown interval {interval!r}")
    symbol = k.get("s") or msg.get("s")
    if not isinstance(symbol, str) or not symbol:
        raise FrameError("kline without a symbol")
    closed = k.get("x")
    if not isinstance(closed, bool):
        raise FrameError("kline without a boolean x")
    candle = kline_candle(k, int_field(k, "t"), interval, "o h l c v")
    return KlineUpdate(symbol, interval, closed, candle, int_field(msg, "E"))
