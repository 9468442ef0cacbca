"""The Binance facade's bulk row render says exactly what the row-by-row reference says,
whatever the numbers: tiny and huge (where a writer might fall into exponents), with and
without extras, for fixed and calendar timeframes."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from app.candle import KlineExtras
from app.exchanges.binance.wire import kline_row, kline_rows_json
from app.exchanges.frames import decimal_text

numbers = st.one_of(
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1e-5, 1e-8, 123e-12, 1e16, 1e21, 57945.22, 0.1 + 0.2]),
)
extras = st.one_of(st.none(), st.tuples(numbers, st.integers(0, 10**9), numbers, numbers))
rows = st.lists(
    st.tuples(st.integers(0, 50_000), numbers, numbers, numbers, numbers, numbers, extras),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(rows, st.sampled_from(["1m", "1h", "1d", "1w", "1M"]))
def test_bulk_render_is_the_reference(drawn: list[tuple], timeframe: str) -> None:  # type: ignore[type-arg]
    base = {"1m": 60, "1h": 3600, "1d": 86400, "1w": 604800}.get(timeframe)
    candles, extras = [], {}
    for i, (n, o, h, low, c, v, said) in enumerate(drawn):
        # Aligned, ascending open times (months: the 1st of consecutive months from 2000).
        t = 1_600_000_000 // base * base + (n + i * 50_001) * base if base else _month(i)
        candles.append((t, o, h, low, c, v))
        if said is not None:
            extras[t] = KlineExtras(t, *said)
    expected = [kline_row(c, timeframe, extras.get(c[0])) for c in candles]
    assert orjson.loads(kline_rows_json(candles, timeframe, extras)) == expected
    for row in expected:  # plain decimals, never an exponent, as Binance writes them
        assert all("e" not in str(x) for x in row[1:6])


def test_decimal_text_is_plain() -> None:
    assert [decimal_text(x) for x in (1e-5, 1e16, 57945.22, 100.0)] == [
        "0.00001", "10000000000000000", "57945.22", "100.0",
    ]  # fmt: skip


def _month(i: int) -> int:
    import datetime as dt

    year, month = divmod(i, 12)
    return int(dt.datetime(2000 + year, month + 1, 1, tzinfo=dt.UTC).timestamp())
