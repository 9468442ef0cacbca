"""Binance market-stream frames to values: a pure function, no I/O.

Handles combined (`{"stream", "data"}`) and raw frames, kline payloads (string prices),
subscription replies, `serverShutdown`, and anything else a combined connection carries
(depth, trades, tickers), which is classified and ignored. Malformed frames raise
`FrameError`; the caller counts them and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.candle import KlineExtras
from app.exchanges.frames import int_field, json_object, kline_candle, kline_extras
from app.exchanges.ports import FrameError, KlineEvent
from app.series import TIMEFRAMES, align_time

__all__ = [
    "FrameError", "KlineEvent", "OtherEvent", "Reply", "ServerShutdown", "parse_frame",
    "rest_klines",
]  # fmt: skip


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


Frame = KlineEvent | Reply | ServerShutdown | OtherEvent


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


def _kline(msg: dict[str, Any]) -> KlineEvent:
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
    extras = kline_extras(k, candle.candle_time)
    topic = f"{symbol.lower()}@kline_{interval}"  # the stream it comes on
    return KlineEvent(topic, candle, closed, int_field(msg, "E"), extras)


def rest_klines(raw: Any) -> tuple[list[list[Any]], dict[int, KlineExtras]]:
    """A `GET /api/v3/klines` (or `/fapi/v1/klines`) answer: its rows as ccxt's OHLCV rows
    (open time in ms, then open, high, low, close, volume), and each row's extras (quote
    volume, trades, taker buy base and quote volumes) where sane. A row without its OHLCV
    raises `FrameError`; the candles are checked where every page is."""
    if not isinstance(raw, list):
        raise FrameError("klines answer is not a list")
    rows: list[list[Any]] = []
    extras: dict[int, KlineExtras] = {}
    for row in raw:
        if not isinstance(row, list) or len(row) < 6 or not isinstance(row[0], int):
            raise FrameError(f"kline row is not Binance's: {str(row)[:100]}")
        try:
            rows.append([row[0], *(float(x) for x in row[1:6])])
        except (TypeError, ValueError) as e:
            raise FrameError(f"kline row has a non-number: {str(row)[:100]}") from e
        if len(row) >= 11:
            fields = dict(zip(("q", "n", "V", "Q"), (row[7], row[8], row[9], row[10]), strict=True))
            said = kline_extras(fields, row[0] // 1000)
            if said is not None:
                extras[said.candle_time] = said
    return rows, extras


def rest_funding_rates(raw: Any, timeframe: str) -> list[list[Any]]:
    """A `GET /fapi/v1/fundingRate` answer as flat OHLCV rows: each funding event's rate at
    the open of the `timeframe` candle it was paid in (Binance stamps some a few ms late;
    freqtrade files them by the hour). A row without its time or rate raises `FrameError`."""
    if not isinstance(raw, list):
        raise FrameError("fundingRate answer is not a list")
    rows: list[list[Any]] = []
    for event in raw:
        if not isinstance(event, dict) or not isinstance(event.get("fundingTime"), int):
            raise FrameError(f"funding row is not Binance's: {str(event)[:100]}")
        try:
            rate = float(event["fundingRate"])
        except (KeyError, TypeError, ValueError) as e:
            raise FrameError(f"funding row has no rate: {str(event)[:100]}") from e
        at = align_time(event["fundingTime"] // 1000, timeframe) * 1000
        rows.append([at, rate, rate, rate, rate, 0.0])
    return rows


def rest_open_interest(raw: Any, timeframe: str) -> list[list[Any]]:
    """A `GET /futures/data/openInterestHist` answer as rows of the store's open interest
    series: the amount (base currency) flat, the value (quote currency) as the volume, at
    the open of the `timeframe` period sampled. A row without them raises `FrameError`."""
    if not isinstance(raw, list):
        raise FrameError("openInterestHist answer is not a list")
    rows: list[list[Any]] = []
    for sample in raw:
        if not isinstance(sample, dict):
            raise FrameError(f"open interest row is not Binance's: {str(sample)[:100]}")
        try:
            ms = int(sample["timestamp"])
            amount = float(sample["sumOpenInterest"])
            value = float(sample["sumOpenInterestValue"])
        except (KeyError, TypeError, ValueError) as e:
            raise FrameError(f"open interest row lacks a value: {str(sample)[:100]}") from e
        at = align_time(ms // 1000, timeframe) * 1000
        rows.append([at, amount, amount, amount, amount, value])
    return rows
