"""Reading one freqtrade OHLCV file into clean, sorted, de-duplicated columns.

Pure apart from reading the file. Cleaning rules, applied in this order and counted:
- a file that is empty, truncated, not in its format, or without OHLCV columns is
  rejected whole (`HistoryFileError`); nothing of it is imported;
- timestamps in any unit (s, ms, us, ns; tz-aware or not) become epoch seconds, sub-second
  parts floored (counted as `subsecond`);
- rows with a missing date, a NaN/infinite/negative value, or a low above open/close or a
  high below them are dropped (`invalid`); a contract's derived prices (`mark`, `index`,
  `premiumIndex`) have no volume (ccxt leaves it out, so freqtrade writes NaN; the venues'
  APIs say 0), read as 0, and a premium index may be negative;
- a funding rate file holds one value per time (`date, funding_rate`, or in freqtrade's
  older layout the rate in `open` of an OHLCV row): read as a flat candle, the rate in
  open, high, low and close, volume 0; it may be negative;
- an open interest file holds two (`date, open_interest_amount, open_interest_value`): the
  amount as a flat candle, the value as the volume, one a venue did not report (NaN)
  `UNREPORTED`; a row with neither is dropped;
- rows whose time is not aligned to the timeframe are dropped (`unaligned`);
- rows with the same time are merged as freqtrade merges them: open first, high max,
  low min, close last, volume max; a single value its first (`duplicates`).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as parquet

from app.candle import CandleRow
from app.errors import TradeCanvasError
from app.history.datadir import DataFormat
from app.series import (
    DERIVED_PRICES,
    MONTH,
    OPEN_INTEREST,
    SINGLE_VALUES,
    UNREPORTED,
    CandleType,
    timeframe_seconds,
)

OHLCV: Final = ("date", "open", "high", "low", "close", "volume")
FUNDING_RATE: Final = ("date", "funding_rate")
OPEN_INTEREST_COLUMNS: Final = ("date", "open_interest_amount", "open_interest_value")
# Values that may go below zero.
_SIGNED: Final = ("premiumIndex", "funding_rate")
_WEEK_OFFSET: Final = 3 * 86_400
_UNIT_DIVISOR: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class HistoryFileError(TradeCanvasError):
    """A datadir file could not be read as OHLCV data."""

    def __init__(self, path: Path, reason: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CleanReport:
    rows_read: int = 0
    subsecond: int = 0
    invalid: int = 0
    unaligned: int = 0
    duplicates: int = 0

    def problems(self) -> dict[str, int]:
        counts = {
            "subsecond": self.subsecond,
            "invalid": self.invalid,
            "unaligned": self.unaligned,
            "duplicates": self.duplicates,
        }
        return {k: v for k, v in counts.items() if v}


@dataclass(frozen=True, slots=True)
class OhlcvData:
    """Clean candles as columns: times ascending and unique."""

    times: Ints
    values: tuple[Floats, Floats, Floats, Floats, Floats]
    report: CleanReport = field(default_factory=CleanReport)

    def __len__(self) -> int:
        return len(self.times)

    def select(self, *, after: int | None = None, before: int | None = None) -> OhlcvData:
        """Only the candles with `time > after` and/or `time < before`."""
        lo = 0 if after is None else int(np.searchsorted(self.times, after, side="right"))
        hi = len(self.times) if before is None else int(np.searchsorted(self.times, before))
        return OhlcvData(
            self.times[lo:hi],
            tuple(v[lo:hi] for v in self.values),  # type: ignore[arg-type]
            self.report,
        )

    def batches(self, size: int, *, newest_first: bool = False) -> Iterator[list[CandleRow]]:
        """Row tuples in batches of `size`, each ascending; built lazily so only one batch
        of Python objects exists at a time. `newest_first` yields the newest batch first
        and then the rest in ascending order (appending keeps SQLite's B-tree pages full;
        descending inserts were 10-20% slower)."""
        # Cut from the newest end, so that the newest batch is a full one (a first page
        # served after it is as long as the file allows); only the oldest may be short.
        ends = list(range(len(self.times), 0, -size))[::-1]
        if newest_first and ends:
            ends = [ends[-1], *ends[:-1]]
        for end in ends:
            start = max(0, end - size)
            columns = [self.times[start:end].tolist()]
            columns += [v[start:end].tolist() for v in self.values]
            yield list(zip(*columns, strict=True))


def read_ohlcv(
    path: Path, fmt: DataFormat, timeframe: str, candle_type: CandleType = "spot"
) -> OhlcvData:
    """Read and clean one file; raise `HistoryFileError` when it is unusable."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise HistoryFileError(path, "unreadable", f"cannot stat: {e}") from e
    if size == 0:
        raise HistoryFileError(path, "empty", "empty file (0 bytes)")
    wanted = file_columns(candle_type)
    if fmt in ("json", "jsongz"):
        raw, values = _read_json(path, fmt == "jsongz", wanted)
    else:
        raw, values = _read_arrow(path, fmt, wanted)
    if wanted == FUNDING_RATE:  # the one value as a flat candle
        rate = values[0]
        values = [rate, rate, rate, rate, np.zeros(len(rate))]
    elif wanted == OPEN_INTEREST_COLUMNS:  # the amount flat, the value as the volume
        amount, value = values
        said = ~(np.isnan(amount) & np.isnan(value))  # a row that says neither is dropped
        amount = np.where(np.isnan(amount) & said, UNREPORTED, amount)
        value = np.where(np.isnan(value), UNREPORTED, value)
        values = [amount, amount, amount, amount, value]
    return clean(raw, values, timeframe, candle_type)


def file_columns(candle_type: CandleType) -> tuple[str, ...]:
    """The columns freqtrade keeps in a file of this candle type."""
    if candle_type in SINGLE_VALUES:
        return FUNDING_RATE
    if candle_type in OPEN_INTEREST:
        return OPEN_INTEREST_COLUMNS
    return OHLCV


@dataclass(frozen=True, slots=True)
class RawTimes:
    """Integer timestamps as stored, and what to divide them by to get seconds."""

    values: Ints
    divisor: int


def _columns_of(path: Path, names: list[str], wanted: tuple[str, ...]) -> list[str]:
    """The columns to read: the date, then the `wanted` values. freqtrade also accepts
    unnamed columns, by position."""
    single = wanted == FUNDING_RATE
    if set(wanted) <= set(names):
        return list(wanted)
    if single and set(OHLCV) <= set(names):
        return ["date", "open"]  # freqtrade's older layout: the rate in `open`
    if len(names) == len(wanted) or (single and len(names) == len(OHLCV)):
        return names[: len(wanted)]
    raise HistoryFileError(path, "columns", f"expected columns {', '.join(wanted)}, found {names}")


def _read_arrow(
    path: Path, fmt: DataFormat, wanted: tuple[str, ...]
) -> tuple[RawTimes, list[Floats]]:
    try:
        whole = None
        if fmt == "feather":
            # Read, not memory-mapped: freqtrade rewrites a file in place, and a mapped file
            # truncated under the reader kills the process with SIGBUS.
            whole = feather.read_table(path, memory_map=False)
            schema = whole.schema
        else:
            schema = parquet.read_schema(path)
        columns = _columns_of(path, list(schema.names), wanted)
        if whole is not None:
            table = whole.select(columns)
        else:
            table = parquet.read_table(path, columns=columns)
    except HistoryFileError:
        raise
    except (pa.ArrowException, OSError, ValueError) as e:
        raise HistoryFileError(path, "corrupt", f"not a readable {fmt} file: {e}") from e
    date = table.column(0)
    valid_date = date.is_valid().to_numpy(zero_copy_only=False)
    times = _epoch_seconds(path, date)
    values = []
    for i in range(1, len(columns)):
        col = table.column(i)
        try:
            values.append(col.cast(pa.float64()).to_numpy().astype(np.float64, copy=False))
        except pa.ArrowException as e:
            raise HistoryFileError(path, "columns", f"column {columns[i]} is not numeric") from e
    if not valid_date.all():
        values = [np.where(valid_date, v, np.nan) for v in values]
    return times, values


def _epoch_seconds(path: Path, date: pa.ChunkedArray) -> RawTimes:
    """Any timestamp unit, or plain integers judged by magnitude; missing dates become 0
    and are marked invalid by the caller."""
    typ = date.type
    if pa.types.is_timestamp(typ):
        raw = date.cast(pa.int64()).fill_null(0).to_numpy()
        divisor = _UNIT_DIVISOR[typ.unit]
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ):
        raw = date.cast(pa.int64()).fill_null(0).to_numpy()
        divisor = _divisor_by_magnitude(raw)
    else:
        raise HistoryFileError(path, "columns", f"date column has type {typ}, not a timestamp")
    return RawTimes(np.asarray(raw, dtype=np.int64), divisor)


def _divisor_by_magnitude(raw: npt.NDArray[Any]) -> int:
    biggest = int(np.abs(raw).max()) if len(raw) else 0
    for divisor, limit in ((1, 10**11), (1_000, 10**14), (1_000_000, 10**17)):
        if biggest < limit:
            return divisor
    return 1_000_000_000


def _read_json(path: Path, gz: bool, wanted: tuple[str, ...]) -> tuple[RawTimes, list[Floats]]:
    """JSON rows `[ms, o, h, l, c, v]`, parsed by the same parser freqtrade uses (pandas'
    `read_json`), so values match freqtrade's to the last bit; that parser rounds some
    decimals one unit in the last place away from the nearest double."""
    import pandas as pd  # ~80 MB of imports; only JSON datadirs need it

    try:
        data = path.read_bytes()
        if gz:
            data = gzip.decompress(data)
        frame = pd.read_json(io.BytesIO(data), orient="values", dtype=False)
    except (OSError, EOFError, gzip.BadGzipFile, ValueError) as e:
        raise HistoryFileError(path, "corrupt", f"not readable JSON OHLCV: {e}") from e
    width = len(wanted)
    shape = f"[ms, {', '.join(wanted[1:])}]"
    if frame.empty:
        return RawTimes(np.zeros(0, dtype=np.int64), 1_000), [np.zeros(0) for _ in wanted[1:]]
    if frame.shape[1] < width:
        raise HistoryFileError(path, "columns", f"expected rows of {shape}")
    try:
        array = frame.iloc[:, :width].to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise HistoryFileError(path, "columns", f"rows are not numeric {shape}: {e}") from e
    dates = array[:, 0]
    valid = np.isfinite(dates)
    times = np.where(valid, dates, 0).astype(np.int64)
    values = [np.ascontiguousarray(array[:, i]) for i in range(1, width)]
    if not valid.all():
        values = [np.where(valid, v, np.nan) for v in values]
    return RawTimes(times, 1_000), values


def clean(
    raw_times: RawTimes, values: list[Floats], timeframe: str, candle_type: CandleType = "spot"
) -> OhlcvData:
    raw, divisor = raw_times.values, raw_times.divisor
    rows_read = len(raw)
    times = np.floor_divide(raw, divisor).astype(np.int64)
    subsecond = int(np.count_nonzero(raw % divisor)) if divisor > 1 else 0
    o, h, lo, c, v = values
    if candle_type in DERIVED_PRICES:
        v = np.where(np.isnan(v), 0.0, v)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        if candle_type in OPEN_INTEREST:  # an amount or value not reported is UNREPORTED
            valid &= np.isfinite(v) & ((v >= 0) | (v == UNREPORTED))
            valid &= (lo >= 0) | (lo == UNREPORTED)
        else:
            valid &= np.isfinite(v) & (v >= 0)
        if candle_type not in _SIGNED and candle_type not in OPEN_INTEREST:
            valid &= lo >= 0
        valid &= (lo <= np.minimum(o, c)) & (h >= np.maximum(o, c))
    invalid = rows_read - int(np.count_nonzero(valid))
    aligned = _aligned(times, timeframe)
    unaligned = int(np.count_nonzero(valid & ~aligned))
    keep = valid & aligned
    cols = [o, h, lo, c, v]
    if not keep.all():  # clean files (the usual case) are not copied
        times = times[keep]
        cols = [x[keep] for x in cols]
    duplicates = 0
    if len(times) > 1 and not bool(np.all(times[1:] > times[:-1])):
        order = np.argsort(times, kind="stable")  # keeps file order among equal times
        times = times[order]
        cols = [x[order] for x in cols]
        uniq, first = np.unique(times, return_index=True)
        last = np.r_[first[1:], len(times)] - 1
        duplicates = len(times) - len(uniq)
        if candle_type in SINGLE_VALUES or candle_type in OPEN_INTEREST:  # the first kept
            cols = [x[first] for x in cols]
        else:
            cols = [
                cols[0][first],
                np.maximum.reduceat(cols[1], first),
                np.minimum.reduceat(cols[2], first),
                cols[3][last],
                np.maximum.reduceat(cols[4], first),
            ]
        times = uniq
    report = CleanReport(rows_read, subsecond, invalid, unaligned, duplicates)
    return OhlcvData(times, (cols[0], cols[1], cols[2], cols[3], cols[4]), report)


def _aligned(times: Ints, timeframe: str) -> npt.NDArray[np.bool_]:
    if timeframe == MONTH:
        months = times.astype("datetime64[s]").astype("datetime64[M]")
        result: npt.NDArray[np.bool_] = months.astype("datetime64[s]").astype(np.int64) == times
        return result
    size = timeframe_seconds(timeframe)
    offset = _WEEK_OFFSET if timeframe == "1w" else 0
    aligned: npt.NDArray[np.bool_] = (times + offset) % size == 0
    return aligned
