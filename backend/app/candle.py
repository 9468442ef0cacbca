"""The Candle value and its validation: pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from app.errors import InvalidCandle
from app.series import align_time, is_aligned, next_candle_time


class Candle(NamedTuple):
    """One closed (or forming) OHLCV bar. `candle_time` is the open time in epoch seconds.

    A NamedTuple so that a batch of candles is already the row tuples SQLite's
    `executemany` wants: no per-row conversion on the write path.
    """

    candle_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


CANDLE_FIELDS = Candle._fields

# What a store read returns: plain row tuples, field order as in `Candle`.
CandleRow = tuple[int, float, float, float, float, float]


class KlineExtras(NamedTuple):
    """What a Binance kline says besides OHLCV: its quote volume, trade count and taker
    buy volumes. Kept beside a closed candle where the live feed or REST gives them
    (freqtrade's datadir files and Bybit do not), and served again by the Binance facade."""

    candle_time: int
    quote_volume: float
    trades: int
    taker_base_volume: float
    taker_quote_volume: float


# Extras by candle time, as a write offers them.
ExtrasByTime = Mapping[int, KlineExtras]


def first_of_each_time(candles: Sequence[CandleRow]) -> list[CandleRow]:
    """The candles without later repeats of a time (the first offered of a time stays)."""
    firsts: dict[int, CandleRow] = {}
    for candle in candles:
        firsts.setdefault(candle[0], candle)
    return list(firsts.values())


def row_of(values: object) -> CandleRow:
    """A candle row from its six values as a message carries them (a JSON list); raises
    `ValueError` (or `TypeError`) for anything else."""
    if not isinstance(values, list) or len(values) != 6:
        raise ValueError(f"a candle is six values, got {values!r}")
    t, o, h, lo, c, v = values
    return (int(t), float(o), float(h), float(lo), float(c), float(v))


def candle_to_dict(c: CandleRow) -> dict[str, Any]:
    return {
        "candle_time": c[0],
        "open": c[1],
        "high": c[2],
        "low": c[3],
        "close": c[4],
        "volume": c[5],
    }


def candles_to_dicts(candles: Iterable[CandleRow]) -> list[dict[str, Any]]:
    return [
        {"candle_time": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in candles
    ]


def candle_problem(c: Candle) -> str | None:
    """Why `c` is not a plausible OHLCV bar, or None when it is."""
    prices = c[1:5]
    if not all(math.isfinite(x) for x in c[1:]):
        return "prices and volume must be finite numbers"
    if any(x < 0 for x in c[1:]):
        return "prices and volume must not be negative"
    if c.low > min(prices) or c.high < max(prices):
        return "high must be the highest and low the lowest of open, high, low, close"
    return None


def candle_from_json(obj: object, timeframe: str, now: int) -> Candle:
    """Validate a candle received from a client (the ingest API). `now` (epoch seconds)
    bounds it: at most the candle after the one forming now, which allows for clock skew
    between the writer and this server, and nothing years ahead."""
    if not isinstance(obj, Mapping):
        raise InvalidCandle("candle must be an object")
    missing = [f for f in CANDLE_FIELDS if f not in obj]
    if missing:
        raise InvalidCandle(f"candle is missing {', '.join(missing)}")
    t = obj["candle_time"]
    if isinstance(t, bool) or not isinstance(t, int):
        raise InvalidCandle("candle_time must be an integer (epoch seconds)")
    latest = next_candle_time(align_time(now, timeframe), timeframe)
    if not 0 <= t <= latest:
        raise InvalidCandle(
            f"candle_time {t} is out of range: at most {latest}, the {timeframe} candle "
            "after the current one"
        )
    if not is_aligned(t, timeframe):
        raise InvalidCandle(f"candle_time {t} is not aligned to the {timeframe} timeframe")
    values: list[float] = []
    for name in CANDLE_FIELDS[1:]:
        v = obj[name]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise InvalidCandle(f"{name} must be a number")
        values.append(float(v))
    candle = Candle(t, *values)
    problem = candle_problem(candle)
    if problem:
        raise InvalidCandle(problem)
    return candle
