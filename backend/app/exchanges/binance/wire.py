"""Binance's REST wire format, as its spot (`/api/v3`) and USDT-M (`/fapi/v1`) hosts write
it: kline rows, error bodies, and the names of its symbols. Pure functions, no I/O; the
facade (`facade.py`) answers with them.

A kline row is 12 fields: open time (ms), open, high, low, close, volume (decimal
strings), close time (ms, the last millisecond of the candle), quote volume, trade count,
taker buy volume, taker buy quote volume, and an ignored "0". This server keeps OHLCV; the
quote volume, trade count and taker volumes of a row it serves are "0" and 0 (freqtrade
and ccxt read OHLCV only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import orjson

from app.candle import CandleRow, KlineExtras
from app.exchanges.frames import decimal_text, decimal_texts
from app.series import TIMEFRAMES, UNREPORTED, next_candle_time

KLINE_LIMITS: Final = {"spot": (500, 1000), "futures": (500, 1500)}  # (default, most)
FUNDING_LIMITS: Final = (100, 1000)
OPEN_INTEREST_LIMITS: Final = (30, 500)
OPEN_INTEREST_PERIODS: Final = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
# When the venue cannot be reached, a client is told to ask again after this.
UNAVAILABLE_RETRY_S: Final = 5.0
# Quote assets, longest first, for naming a symbol when the market list cannot be had.
QUOTES: Final = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


class BinanceError(Exception):
    """An answer in Binance's error shape: HTTP status, `{"code", "msg"}`."""

    def __init__(self, status: int, code: int, msg: str, retry_after_s: float | None = None):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg
        self.retry_after_s = retry_after_s

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "msg": self.msg})


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal(name: str) -> BinanceError:
    legal = "^[0-9]{1,20}$"
    return BinanceError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def not_all_read(why: str) -> BinanceError:
    return BinanceError(400, -1104, f"Not all sent parameters were read: {why}.")


def invalid_interval() -> BinanceError:
    return BinanceError(400, -1120, "Invalid interval.")


def invalid_parameter(name: str) -> BinanceError:
    return BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.")


def unknown_path(path: str) -> BinanceError:
    return BinanceError(404, -5000, f"Path {path}, Method GET is invalid")


def too_many_requests(wait_s: float, why: str) -> BinanceError:
    return BinanceError(
        429, -1003, f"Too many requests; retry in {math.ceil(wait_s)}s ({why}).", wait_s
    )


def unavailable(detail: str, retry_after_s: float = UNAVAILABLE_RETRY_S) -> BinanceError:
    return BinanceError(503, -1008, f"Service unavailable: {detail}", retry_after_s)


def book_cut(body: bytes, rows: int) -> bytes:
    """A `depth` answer with the best `rows` levels of each side."""
    book = orjson.loads(body)
    book["bids"], book["asks"] = book["bids"][:rows], book["asks"][:rows]
    return orjson.dumps(book)


def interval_of(raw: str | None) -> str:
    if not raw:
        raise mandatory("interval")
    if raw not in TIMEFRAMES:
        raise invalid_interval()
    return raw


def split_symbol(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of a Binance symbol by its quote asset's name; for when the market
    list, which says it exactly, cannot be had."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return None


def kline_row(candle: CandleRow, timeframe: str, extras: KlineExtras | None = None) -> list[object]:
    """A kline row as Binance answers it; without `extras` (a candle from a datadir, or
    forming) its quote volume, trade count and taker volumes are 0."""
    t, o, h, low, c, v = candle
    close_ms = next_candle_time(t, timeframe) * 1000 - 1
    d = decimal_text
    if extras is None:
        return [t * 1000, d(o), d(h), d(low), d(c), d(v), close_ms, "0", 0, "0", "0", "0"]
    _, quote, trades, taker_base, taker_quote = extras
    return [t * 1000, d(o), d(h), d(low), d(c), d(v), close_ms, d(quote), trades,
            d(taker_base), d(taker_quote), "0"]  # fmt: skip


def kline_rows_json(
    candles: Sequence[CandleRow], timeframe: str, extras: Mapping[int, KlineExtras]
) -> bytes:
    """`orjson.dumps([kline_row(c, timeframe, extras.get(c[0])) for c in candles])`, the
    same JSON values in a third of the time: the hot path's render of 1,000 rows."""
    numbers: list[float] = []
    for c in candles:
        numbers += c[1:]
        said = extras.get(c[0])
        if said is not None:
            numbers += (said[1], said[3], said[4])
    texts = decimal_texts(numbers)
    parts = []
    i = 0
    for c in candles:
        t = c[0]
        close_ms = next_candle_time(t, timeframe) * 1000 - 1
        o, h, low, close, volume = texts[i : i + 5]
        i += 5
        said = extras.get(t)
        if said is None:
            parts.append(b'[%d,"%b","%b","%b","%b","%b",%d,"0",0,"0","0","0"]'
                         % (t * 1000, o, h, low, close, volume, close_ms))  # fmt: skip
        else:
            quote, taker_base, taker_quote = texts[i : i + 3]
            i += 3
            parts.append(b'[%d,"%b","%b","%b","%b","%b",%d,"%b",%d,"%b","%b","0"]'
                         % (t * 1000, o, h, low, close, volume, close_ms, quote, said[2],
                            taker_base, taker_quote))  # fmt: skip
    return b"[" + b",".join(parts) + b"]"


def stream_topic(symbol: str, timeframe: str) -> str:
    return f"{symbol.lower()}@kline_{timeframe}"


def parse_stream(topic: str) -> tuple[str, str] | None:
    """(symbol, interval) of a kline stream name (`btcusdt@kline_1m`), else None."""
    symbol, _, kind = topic.partition("@")
    interval = kind.removeprefix("kline_")
    if not symbol or not kind.startswith("kline_") or interval not in TIMEFRAMES:
        return None
    return symbol.upper(), interval


def canonical_stream(topic: str) -> str:
    """The one name of a stream (Binance's are lower case: `BTCUSDT@kline_1m` is
    `btcusdt@kline_1m`); the interval keeps its case, as `1m` and `1M` differ."""
    symbol, at, kind = topic.partition("@")
    return f"{symbol.lower()}{at}{kind}"


def kline_event(
    symbol: str, timeframe: str, candle: CandleRow, closed: bool, event_ms: int
) -> dict[str, object]:
    """A kline stream event as Binance sends it (OHLCV of this server; trade ids, counts
    and quote volumes 0)."""
    t, o, h, low, c, v = candle
    d = decimal_text
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": t * 1000, "T": next_candle_time(t, timeframe) * 1000 - 1, "s": symbol,
            "i": timeframe, "f": 0, "L": 0, "o": d(o), "c": d(c), "h": d(h), "l": d(low),
            "v": d(v), "n": 0, "x": closed, "q": "0", "V": "0", "Q": "0", "B": "0",
        },
    }  # fmt: skip


def funding_rows_json(
    symbol: str, events: Sequence[CandleRow], marks: Mapping[int, float]
) -> bytes:
    """`GET /fapi/v1/fundingRate` rows: a mark price the store lacks is "", as Binance
    states it for its oldest events."""
    return orjson.dumps([
        {"symbol": symbol, "fundingTime": t * 1000, "fundingRate": f"{rate:.8f}",
         "markPrice": f"{marks[t]:.8f}" if t in marks else ""}
        for t, rate, *_ in events
    ])  # fmt: skip


def open_interest_rows_json(symbol: str, samples: Sequence[CandleRow]) -> bytes:
    """`GET /futures/data/openInterestHist` rows (what was imported without it, "")."""
    return orjson.dumps([
        {"symbol": symbol, "sumOpenInterest": _reported(amount),
         "sumOpenInterestValue": _reported(value), "timestamp": t * 1000}
        for t, amount, _, _, _, value in samples
    ])  # fmt: skip


def _reported(x: float) -> str:
    return "" if x == UNREPORTED else f"{x:.8f}"
