from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InvalidSeriesId
from app.series import (
    TIMEFRAMES,
    SeriesId,
    align_time,
    is_aligned,
    next_candle_time,
    parse_series_id,
    series_id_pattern,
    timeframe_seconds,
)


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_spot_series_round_trips() -> None:
    s = parse_series_id("binance:spot:BTC/USDT:1m")
    assert s == SeriesId("binance", "spot", "BTC/USDT", "1m")
    assert str(s) == "binance:spot:BTC/USDT:1m"


def test_futures_symbol_keeps_its_colon() -> None:
    s = parse_series_id("binance:futures:ETH/USDT:USDT:1h")
    assert (s.market, s.symbol, s.timeframe) == ("futures", "ETH/USDT:USDT", "1h")
    assert str(s) == "binance:futures:ETH/USDT:USDT:1h"
    assert s.base == "ETH" and s.quote == "USDT"


@pytest.mark.parametrize("market", ["mark", "index", "premiumIndex", "funding_rate"])
def test_a_contracts_derived_prices_are_series_of_its_futures_symbol(market: str) -> None:
    s = parse_series_id(f"bybit:{market}:BTC/USDT:USDT:1h")
    assert (s.market, s.symbol, s.instrument_market, s.derived) == (
        market,
        "BTC/USDT:USDT",
        "futures",
        True,
    )
    assert str(s) == f"bybit:{market}:BTC/USDT:USDT:1h"
    assert re.match(series_id_pattern(), str(s))
    assert not parse_series_id("bybit:futures:BTC/USDT:USDT:1h").derived
    assert parse_series_id("bybit:spot:BTC/USDT:1h").instrument_market == "spot"


@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_every_binance_timeframe_parses(tf: str) -> None:
    assert parse_series_id(f"binance:spot:1000SHIB/USDT:{tf}").timeframe == tf


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        (42, "non-empty"),
        ("binance", "exchange:market"),
        ("binance:spot", "exchange:market"),
        ("binance:spot:BTC/USDT", "exchange:market"),
        ("binance:spot:BTC/USDT:", "unsupported timeframe"),
        ("kraken:spot:BTC/USDT:1m", "unsupported exchange"),
        ("binance:margin:BTC/USDT:1m", "unsupported market"),
        ("binance:spot:BTC/USDT:2m", "unsupported timeframe"),
        ("binance:spot:BTC/USDT:1H", "unsupported timeframe"),
        ("binance:spot:BTCUSDT:1m", "BASE/QUOTE"),
        ("binance:spot:btc/usdt:1m", "BASE/QUOTE"),
        ("binance:spot:BTC/:1m", "BASE/QUOTE"),
        ("binance:spot:/USDT:1m", "BASE/QUOTE"),
        ("binance:spot:BTC/USDT:USDT:1m", "must not have a settle"),
        ("binance:futures:BTC/USDT:1m", "BASE/QUOTE:SETTLE"),
        ("binance:futures:BTC/USDT::1m", "BASE/QUOTE:SETTLE"),
        ("binance:mark:BTC/USDT:1m", "mark symbol 'BTC/USDT' must be BASE/QUOTE:SETTLE"),
        ("binance:open_interest:BTC/USDT:5m", "BASE/QUOTE:SETTLE"),
        ("binance:funding_rate:BTC/USDT:8h", "BASE/QUOTE:SETTLE"),
        ("binance:Mark:BTC/USDT:USDT:1m", "unsupported market"),
        ("binance:spot:BT C/USDT:1m", "BASE/QUOTE"),
        ("binance:spot:BTC/USDT€:1m", "invalid symbol"),
        ("binance:spot:" + "A" * 200 + "/USDT:1m", "too long"),
        ("binance::BTC/USDT:1m", "unsupported market"),
        (":spot:BTC/USDT:1m", "unsupported exchange"),
    ],
)
def test_malformed_series_ids_are_rejected_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidSeriesId, match=reason):
        parse_series_id(raw)


def test_timeframe_seconds() -> None:
    assert timeframe_seconds("1m") == 60
    assert timeframe_seconds("4h") == 14_400
    assert timeframe_seconds("1w") == 604_800
    with pytest.raises(InvalidSeriesId):
        timeframe_seconds("7m")


def test_alignment_of_fixed_timeframes() -> None:
    t = ts(2024, 3, 5, 13, 47, 12)
    assert align_time(t, "1m") == ts(2024, 3, 5, 13, 47)
    assert align_time(t, "15m") == ts(2024, 3, 5, 13, 45)
    assert align_time(t, "4h") == ts(2024, 3, 5, 12)
    assert align_time(t, "1d") == ts(2024, 3, 5)
    assert is_aligned(ts(2024, 3, 5, 13, 45), "15m")
    assert not is_aligned(ts(2024, 3, 5, 13, 46), "15m")


def test_weeks_open_on_monday_like_binance() -> None:
    # 2024-03-04 was a Monday.
    assert align_time(ts(2024, 3, 7, 9), "1w") == ts(2024, 3, 4)
    assert is_aligned(ts(2024, 3, 4), "1w")
    assert not is_aligned(ts(2024, 3, 7), "1w")  # a Thursday, epoch-aligned but not Monday
    assert next_candle_time(ts(2024, 3, 4), "1w") == ts(2024, 3, 11)


def test_months_are_calendar_months() -> None:
    assert align_time(ts(2024, 2, 29, 23, 59), "1M") == ts(2024, 2, 1)
    assert next_candle_time(ts(2024, 1, 1), "1M") == ts(2024, 2, 1)
    assert next_candle_time(ts(2024, 2, 1), "1M") == ts(2024, 3, 1)
    assert next_candle_time(ts(2024, 12, 1), "1M") == ts(2025, 1, 1)
    assert not is_aligned(ts(2024, 2, 2), "1M")


def test_next_candle_time_of_fixed_timeframes() -> None:
    assert next_candle_time(ts(2024, 1, 1), "1m") == ts(2024, 1, 1, 0, 1)
    assert next_candle_time(ts(2024, 1, 1), "8h") == ts(2024, 1, 1, 8)


def _accepted(raw: str) -> bool:
    try:
        parse_series_id(raw)
    except InvalidSeriesId:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.from_regex(series_id_pattern(), fullmatch=True))
def test_every_id_the_documented_pattern_allows_parses(raw: str) -> None:
    assert _accepted(raw), raw


_PIECES = ["binance", "bybit", "okx", "spot", "futures", "BTC", "btc", "USDT", "1000SHIB",
           "A" * 20, "A" * 21, "Ä", "1m", "8h", "1M", "3d", ":", "/", "", " ", "-"]  # fmt: skip


@settings(max_examples=2_000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=9).map("".join))
def test_the_pattern_and_the_parser_agree(raw: str) -> None:
    """Ids built of the pieces real and broken ids are made of: the documented pattern
    matches exactly those the server accepts."""
    assert (re.fullmatch(series_id_pattern(), raw) is not None) == _accepted(raw), raw
