"""Holes: the candles a series lacks between its first stored candle and its last.

A hole is named by the stored candles around it, `(after, before)`: both are stored, none
opens between them, and the timeframe has at least one candle that would. Holes are kept
by the store in the transaction that writes the candles (a write can only fill holes and
make new ones at the edges it extends, so only the holes its candles fall into are read),
never found by scanning the candles; these are the pure rules both engines apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from app.series import MONTH, SINGLE_VALUES, next_candle_time, timeframe_seconds

# (after, before): stored candle times with a gap the timeframe has candles in.
Hole = tuple[int, int]

# The longest month: consecutive 1M candles open at most this far apart.
_MONTH_MAX_S = 31 * 86_400


@dataclass(frozen=True, slots=True)
class HoleChange:
    """What a write does to a series' holes: the ones it touched go, these come."""

    removed: tuple[Hole, ...]
    added: tuple[Hole, ...]


def hole_timeframe(series_id: str) -> str | None:
    """The timeframe a series' holes are judged by: its own; None for a series of events (a
    funding rate has a row only where the venue paid one, so rows far apart lack nothing)."""
    parts = series_id.split(":", 2)
    if len(parts) > 2 and parts[1] in SINGLE_VALUES:
        return None
    return series_id.rsplit(":", 1)[-1]


def missing(hole: Hole, timeframe: str) -> int:
    """How many candles the hole lacks."""
    after, before = hole
    if timeframe != MONTH:
        return (before - after) // timeframe_seconds(timeframe) - 1
    count, t = 0, next_candle_time(after, timeframe)
    while t < before:
        count, t = count + 1, next_candle_time(t, timeframe)
    return count


def max_step(timeframe: str) -> int:
    """The most seconds between two consecutive candles' opens. Raises `InvalidSeriesId`."""
    return _MONTH_MAX_S if timeframe == MONTH else timeframe_seconds(timeframe)


def is_hole(pair: Hole, timeframe: str) -> bool:
    """Whether two consecutive stored candles have a candle of the timeframe between them."""
    return next_candle_time(pair[0], timeframe) < pair[1]


def holes_between(times: Sequence[int] | np.ndarray, timeframe: str) -> list[Hole]:
    """The holes of ascending, distinct candle times."""
    if len(times) < 2:
        return []
    arr = np.asarray(times, dtype=np.int64)
    at = np.flatnonzero(np.diff(arr) > max_step(timeframe))
    found = [(int(arr[i]), int(arr[i + 1])) for i in at]
    if timeframe == MONTH:  # months differ in length: a short step may still be no hole
        return [h for h in found if is_hole(h, timeframe)]
    return found


def after_insert(
    fresh: Iterable[int],
    count: int,
    lo: int,
    hi: int,
    first: int | None,
    head: int | None,
    touched: Iterable[Hole],
    timeframe: str | None,
) -> HoleChange:
    """`after_write`, told how many distinct times `fresh` holds and its span: a run with no
    gap outside the stored range (an import's batch, live closes) is decided from its ends,
    without reading its times (a write of 100,000 candles would pay 40 ms for that).
    `timeframe` None (`hole_timeframe`): the series has no holes."""
    if timeframe is None:
        return HoleChange((), ())
    outside = first is None or head is None or hi < first or lo > head
    if outside and timeframe != MONTH and hi - lo == (count - 1) * timeframe_seconds(timeframe):
        edges = [(head, lo)] if head is not None and lo > head else []
        edges += [(hi, first)] if first is not None and hi < first else []
        return HoleChange((), tuple(h for h in edges if is_hole(h, timeframe)))
    return after_write(fresh, first, head, touched, timeframe)


def after_write(
    fresh: Iterable[int],
    first: int | None,
    head: int | None,
    touched: Iterable[Hole],
    timeframe: str,
) -> HoleChange:
    """How the holes change when candles opening at `fresh` (none stored before) join a
    series stored from `first` to `head`; `touched`: its holes some fresh candle falls in."""
    new = np.unique(np.fromiter(fresh, np.int64))
    if not len(new):
        return HoleChange((), ())
    touched = tuple(touched)
    # The stored candles that bound what changed: each touched hole's ends, and the old
    # first or head where the write reaches past it.
    bounds = {t for hole in touched for t in hole}
    if first is not None and new[0] < first:
        bounds.add(first)
    if head is not None and new[-1] > head:
        bounds.add(head)
    points = np.union1d(new, np.fromiter(bounds, np.int64, len(bounds)))
    # Between two stored bounds with no fresh candle lies stored data, unless they are a
    # touched hole's ends (the write's range spanned it without a candle in it).
    kept = set(touched)
    added = tuple(h for h in holes_between(points, timeframe) if not set(h) <= bounds or h in kept)
    return HoleChange(touched, added)
