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


NOW = 1_700_000_070  # the 1m candle opened at 1_700_000_040 is forming


@pytest.mark.parametrize(
    ("timeframe", "candle_time", "ok"),
    [
        ("1m", 1_700_000_100, True),  # the candle after the forming one: clock skew
        ("1m", 1_700_000_160, False),
        ("1w", 1_699_833_600 + 7 * 86_400, True),
        ("1w", 297_999_792_000, False),  # a week in the year 11476
        ("1M", 1_701_388_800, True),  # 2023-12-01, the month after November 2023
        ("1M", 1_704_067_200, False),
        ("1M", 2**40 - 1, False),  # no date overflow: a client error, not a 500
    ],
)
def test_candle_time_is_bounded_by_now(timeframe: str, candle_time: int, ok: bool) -> None:
    candle = {**GOOD, "candle_time": candle_time}
    if ok:
        assert candle_from_json(candle, timeframe, NOW).candle_time == candle_time
    else:
        with pytest.raises(InvalidCandle, match="out of range"):
            candle_from_json(candle, timeframe, NOW)


def test_valid_candle_parses_to_floats() -> None:
    c = candle_from_json(GOOD, "1m", NOW)
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
        candle_from_json({**GOOD, **patch}, "1m", NOW)


def test_missing_fields_are_named() -> None:
    with pytest.raises(InvalidCandle, match="missing high, volume"):
        candle_from_json({k: v for k, v in GOOD.items() if k not in ("high", "volume")}, "1m", NOW)


def test_non_object_is_rejected() -> None:
    with pytest.raises(InvalidCandle, match="object"):
        candle_from_json([1, 2, 3], "1m", NOW)
