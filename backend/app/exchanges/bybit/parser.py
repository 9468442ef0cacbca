"""Bybit v5 public-stream frames to values: a pure function, no I/O.

Handles `kline.{interval}.{symbol}` pushes (a `data` list of klines with string prices;
`confirm: true` is the close), the replies to `subscribe` / `unsubscribe` / `ping`, and any
other topic (orderbook, trades, tickers), which is ignored. Malformed frames raise
`FrameError`; the caller counts them and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.exchanges.frames import int_field, json_object, kline_candle
from app.exchanges.ports import FrameError, KlineEvent

# freqtrade's timeframe names to Bybit's interval names, and back.
INTERVALS: Final[dict[str, str]] = {
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
    "4h": "240", "6h": "360", "12h": "720", "1d": "D", "1w": "W",
}  # fmt: skip
TIMEFRAME_OF: Final = {v: k for k, v in INTERVALS.items()}


@dataclass(frozen=True, slots=True)
class BybitReply:
    """The answer to an `op` request: subscribe, unsubscribe or ping."""

    op: str
    success: bool
    message: str


BybitFrame = tuple[KlineEvent, ...] | BybitReply


def parse_frame(raw: str | bytes) -> BybitFrame:
    msg = json_object(raw)
    op = msg.get("op")
    if isinstance(op, str):
        success = msg.get("success", True)
        return BybitReply(op, success is not False, str(msg.get("ret_msg") or ""))
    topic = msg.get("topic")
    if not isinstance(topic, str):
        raise FrameError("frame has neither op nor topic")
    kind, _, rest = topic.partition(".")
    if kind != "kline":
        return ()
    interval, _, symbol = rest.partition(".")
    timeframe = TIMEFRAME_OF.get(interval)
    if timeframe is None or not symbol:
        raise FrameError(f"kline topic {topic!r} is not kline.<interval>.<symbol>")
    data = msg.get("data")
    if not isinstance(data, list):
        raise FrameError("kline push without a data list")
    klines = []
    for k in data:
        if not isinstance(k, dict):
            raise FrameError("kline entry is not an object")
        if k.get("interval") != interval:
            raise FrameError(f"kline interval {k.get('interval')!r} differs from {topic!r}")
        confirm = k.get("confirm")
        if not isinstance(confirm, bool):
            raise FrameError("kline without a boolean confirm")
        candle = kline_candle(k, int_field(k, "start"), timeframe, "open high low close volume")
        stamp = k.get("timestamp")
        stamp_ms = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
        klines.append(KlineEvent(topic, candle, confirm, stamp_ms))
    return tuple(klines)
