"""Binance market-stream frames to values: a pure function, no I/O.

Handles combined (`{"stream", "data"}`) and raw frames, kline payloads (string prices),
subscription replies, `serverShutdown`, and anything else a combined connection carries
(depth, trades, tickers), which is classified and ignored. Malformed frames raise
`FrameError`; the caller counts them and goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from app.candle import Candle, candle_problem
from app.exchanges.ports import FrameError
from app.series import TIMEFRAMES, is_aligned

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
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise FrameError(f"not JSON: {e}") from e
    if not isinstance(msg, dict):
        raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
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
        return ServerShutdown(_int(msg, "E"))
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
    open_ms = _int(k, "t")
    if open_ms % 1000 or not is_aligned(open_ms // 1000, interval):
        raise FrameError(f"kline open time {open_ms} is not aligned to {interval}")
    values = [_price(k, f) for f in ("o", "h", "l", "c", "v")]
    candle = Candle(open_ms // 1000, *values)
    problem = candle_problem(candle)
    if problem:
        raise FrameError(f"implausible kline: {problem}")
    return KlineUpdate(symbol, interval, closed, candle, _int(msg, "E"))


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError(f"field {key} must be an integer")
    return value


def _price(k: dict[str, Any], key: str) -> float:
    value = k.get(key)
    if not isinstance(value, str):  # Binance sends prices and volumes as strings
        raise FrameError(f"field {key} must be a decimal string")
    try:
        number = float(value)
    except ValueError as e:
        raise FrameError(f"field {key} is not a number: {value!r}") from e
    if not math.isfinite(number):
        raise FrameError(f"field {key} is not finite")
    return number
