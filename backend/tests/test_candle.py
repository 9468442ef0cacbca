from __future__ import annotations

import math
from typing import Any

import pytest

from app.candle import Candle, candle_from_json, candles_to_dicts
from app.errors import InvalidCandle

GOOD: dict[str, Any] = {
    "candle_time": 1_700_000_040,
    "open": 1.0,
    "high": 2.0,
    "low": 0.5,
    "close": 1.5,
    "volume": 10,
}


def test_valid_candle_parses_to_floats() -> None:
    c = candle_from_json(GOOD, "1m")
    assert c == Candle(1_700_000_040, 1.0, 2.0, 0.5, 1.5, 10.0)
    assert isinstance(c.volume, float)
    assert candles_to_dicts([c]) == [{**GOOD, "volume": 10.0}]


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"candle_time": "1700000040"}, "integer"),
        ({"candle_time": 1_700_000_040.0}, "integer"),
        ({"candle_time": True}, "integer"),
        ({"candle_time": -60}, "out of range"),
        ({"candle_time": 1_700_000_041}, "not aligned"),
        ({"open": "1.0"}, "open must be a number"),
        ({"volume": None}, "volume must be a number"),
        ({"high": False}, "high must be a number"),
        ({"close": math.nan}, "finite"),
        ({"high": math.inf}, "finite"),
        ({"volume": -1}, "negative"),
        ({"high": 1.2}, "highest"),
        ({"low": 1.2}, "lowest"),
    ],
)
def test_invalid_candles_are_rejected(patch: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidCandle, match=reason):
        candle_from_json({**GOOD, **patch}, "1m")


def test_missing_fields_are_named() -> None:
    with pytest.raises(InvalidCandle, match="missing high, volume"):
        candle_from_json({k: v for k, v in GOOD.items() if k not in ("high", "volume")}, "1m")


def test_non_object_is_rejected() -> None:
    with pytest.raises(InvalidCandle, match="object"):
        candle_from_json([1, 2, 3], "1m")
