"""Bybit's v5 REST wire format: the `retCode` envelope (errors on HTTP 200, as Bybit
answers them), kline rows, and its interval names. Pure functions, no I/O; the facade
(`facade.py`) answers with them.

A kline row is 7 strings: start (ms), open, high, low, close, volume, turnover. This server
keeps OHLCV; the turnover of a row it serves is "0" (freqtrade and ccxt read OHLCV only).
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from app.candle import CandleRow
from app.exchanges.bybit.parser import TIMEFRAME_OF
from app.exchanges.frames import decimal_text
from app.series import Market

KLINE_LIMITS: Final = (200, 1000)  # (default, most)
FUNDING_LIMITS: Final = (200, 200)
OPEN_INTEREST_LIMITS: Final = (50, 200)
# When the venue cannot be reached, a client is told to ask again after this.
UNAVAILABLE_RETRY_S: Final = 5.0
CATEGORIES: Final[dict[str, Market]] = {"spot": "spot", "linear": "futures"}


class BybitError(Exception):
    """An error in Bybit's shape: `retCode` and `retMsg`, on HTTP 200 unless said."""

    def __init__(self, code: int, msg: str, *, status: int = 200,
                 retry_after_s: float | None = None) -> None:  # fmt: skip
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status
        self.retry_after_s = retry_after_s


def envelope(result: Any, now_ms: int, code: int = 0, msg: str = "OK") -> bytes:
    return orjson.dumps(
        {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}
    )


def envelope_with_list(result: dict[str, Any], rows: bytes, now_ms: int) -> bytes:
    """`envelope` of `result` plus its `list`, given already as JSON (`rows`)."""
    head, tail = envelope({**result, "list": []}, now_ms).split(b'"list":[]', 1)
    return head + b'"list":' + rows + tail


def params_error(detail: str) -> BybitError:
    return BybitError(10001, f"params error: {detail}")


def not_an_integer(name: str) -> BybitError:
    return params_error(f"{name} must be an integer")


def unknown_path(path: str) -> BybitError:
    return BybitError(10001, f"params error: path {path} is not served", status=404)


def too_many_visits(wait_s: float, why: str) -> BybitError:
    return BybitError(
        10006, f"Too many visits! Retry in {math.ceil(wait_s)}s ({why}).",
        status=429, retry_after_s=wait_s,
    )  # fmt: skip


def unavailable(detail: str, retry_after_s: float = UNAVAILABLE_RETRY_S) -> BybitError:
    return BybitError(
        10016, f"Service unavailable: {detail}", status=503, retry_after_s=retry_after_s
    )


def book_cut(body: bytes, rows: int) -> bytes:
    """An `orderbook` answer with the best `rows` levels of each side (`b`, `a`)."""
    answer = orjson.loads(body)
    book = answer.get("result")
    if isinstance(book, dict):
        book["b"], book["a"] = book.get("b", [])[:rows], book.get("a", [])[:rows]
    return orjson.dumps(answer)


def category_of(raw: str | None) -> Market:
    market = CATEGORIES.get(raw or "")
    if market is None:
        raise params_error(f"category {raw!r} is not served (spot, linear)")
    return market


def timeframe_of(raw: str | None) -> str:
    timeframe = TIMEFRAME_OF.get(raw or "")
    if timeframe is None:
        raise params_error("invalid interval")
    return timeframe


def kline_row(candle: CandleRow) -> list[str]:
    t, o, h, low, c, v = candle
    d = decimal_text
    return [str(t * 1000), d(o), d(h), d(low), d(c), d(v), "0"]


def kline_push(topic: str, interval: str, candle: CandleRow, closed: bool, now_ms: int,
               end_ms: int) -> bytes:  # fmt: skip
    """A `kline.{interval}.{symbol}` push as Bybit sends it (turnover "0")."""
    t, o, h, low, c, v = candle
    d = decimal_text
    data = {
        "start": t * 1000, "end": end_ms, "interval": interval, "open": d(o), "close": d(c),
        "high": d(h), "low": d(low), "volume": d(v), "turnover": "0", "confirm": closed,
        "timestamp": now_ms,
    }  # fmt: skip
    return orjson.dumps({"topic": topic, "data": [data], "ts": now_ms, "type": "snapshot"})


def op_reply(op: str, req_id: object, success: bool, msg: str, conn_id: str) -> bytes:
    reply: dict[str, object] = {"success": success, "ret_msg": msg, "conn_id": conn_id, "op": op}
    if req_id is not None:
        reply["req_id"] = req_id
    return orjson.dumps(reply)
