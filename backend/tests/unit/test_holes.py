"""The store's hole rules: kept write by write, they equal the holes found by walking every
stored candle, for any order of writes (a property test), on regular and month timeframes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.series import next_candle_time
from app.store.holes import Hole, after_insert, after_write, holes_between, missing

T0 = 1_700_006_400  # 2023-11-15 00:00 UTC: a 1d, 1h and 1m open
MONTH0 = 1_698_796_800  # 2023-11-01


def months(n: int) -> list[int]:
    times = [MONTH0]
    for _ in range(n - 1):
        times.append(next_candle_time(times[-1], "1M"))
    return times


def kept_by_writes(batches: list[list[int]], timeframe: str) -> set[Hole]:
    stored: set[int] = set()
    holes: set[Hole] = set()
    for batch in batches:
        fresh = sorted(set(batch) - stored)
        if not fresh:
            continue
        lo, hi = min(batch), max(batch)
        # What an engine reads: its holes overlapping the batch's range.
        touched = [h for h in holes if h[1] > lo and h[0] < hi]
        first, head = min(stored, default=None), max(stored, default=None)
        # As the engines call it: told the fresh times' count and span.
        change = after_insert(fresh, len(fresh), fresh[0], fresh[-1], first, head, touched,
                              timeframe)  # fmt: skip
        holes -= set(change.removed)
        holes |= set(change.added)
        stored |= set(fresh)
    assert holes == set(holes_between(sorted(stored), timeframe))
    return holes


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=15), min_size=1, max_size=8))
def test_kept_holes_equal_walked_holes(batches: list[list[int]]) -> None:
    kept_by_writes([[T0 + 60 * i for i in b] for b in batches], "1m")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=8), min_size=1, max_size=6))
def test_month_holes_follow_the_calendar(batches: list[list[int]]) -> None:
    calendar = months(31)
    kept_by_writes([[calendar[i] for i in b] for b in batches], "1M")


def test_a_hole_counts_what_it_lacks() -> None:
    assert holes_between([T0, T0 + 60, T0 + 300], "1m") == [(T0 + 60, T0 + 300)]
    assert missing((T0 + 60, T0 + 300), "1m") == 3
    calendar = months(5)
    assert holes_between(calendar[:2], "1M") == []  # a 30-day step is no hole in months
    assert holes_between([calendar[0], calendar[3]], "1M") == [(calendar[0], calendar[3])]
    assert missing((calendar[0], calendar[3]), "1M") == 2
    # A write spanning a hole without filling it keeps it.
    change = after_write([T0 + 600], T0, T0 + 300, [(T0 + 60, T0 + 300)], "1m")
    assert set(change.added) == {(T0 + 60, T0 + 300), (T0 + 300, T0 + 600)}
