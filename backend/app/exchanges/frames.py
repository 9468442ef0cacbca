"""Pieces every venue's frame parser needs: pure functions that raise `FrameError`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

from app.candle import Candle, KlineExtras, candle_problem
from app.exchanges.ports import FrameError
from app.series import is_aligned


def json_object(raw: str | bytes) -> dict[str, Any]:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise FrameError(f"not JSON: {e}") from e
    if not isinstance(msg, dict):
        raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
    return msg


def int_field(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError(f"field {key} must be an integer")
    return value


def decimal_field(obj: dict[str, Any], key: str) -> float:
    value = obj.get(key)
    if not isinstance(value, str):  # venues send prices and volumes as strings
        raise FrameError(f"field {key} must be a decimal string")
    try:
        number = float(value)
    except ValueError as e:
        raise FrameError(f"field {key} is not a number: {value!r}") from e
    if not math.isfinite(number):
        raise FrameError(f"field {key} is not finite")
    return number


def decimal_text(x: float) -> str:
    """A price or volume as venues write them: a plain decimal string, never an exponent."""
    text = repr(x)
    if "e" in text:  # the same shortest digits, written out
        text = format(Decimal(text), "f")
    return text


def decimal_texts(values: Sequence[float]) -> list[bytes]:
    """`decimal_text` of many numbers at once, as bytes: orjson writes the same shortest
    round-trip digits as `repr`, in C; only a number it writes with an exponent is redone."""
    if not values:
        return []
    blob = orjson.dumps(values)
    texts = blob[1:-1].split(b",")
    if b"e" in blob:
        texts = [
            t if b"e" not in t else decimal_text(v).encode()
            for t, v in zip(texts, values, strict=True)
        ]
    return texts


def kline_extras(obj: dict[str, Any], open_time: int) -> KlineExtras | None:
    """A Binance kline's quote volume (`q`), trade count (`n`) and taker buy volumes (`V`,
    `Q`), when all are there and sane; else None (they are kept where given, never needed)."""
    try:
        extras = KlineExtras(open_time, decimal_field(obj, "q"), int_field(obj, "n"),
                             decimal_field(obj, "V"), decimal_field(obj, "Q"))  # fmt: skip
    except FrameError:
        return None
    return extras if extras.trades >= 0 and min(extras[1:]) >= 0 else None


def kline_candle(obj: dict[str, Any], open_ms: int, timeframe: str, keys: str) -> Candle:
    """The candle opening at `open_ms`, prices and volume read from the five `keys`
    (open, high, low, close, volume), checked for alignment and plausibility."""
    if open_ms % 1000 or not is_aligned(open_ms // 1000, timeframe):
        raise FrameError(f"kline open time {open_ms} is not aligned to {timeframe}")
    candle = Candle(open_ms // 1000, *(decimal_field(obj, k) for k in keys.split()))
    problem = candle_problem(candle)
    if problem:
        raise FrameError(f"implausible kline: {problem}")
    return candle
