"""Stored candles written back as freqtrade datadir files: `trade-canvas export`, and the
write-through that keeps a datadir current with live closes.

A file gets freqtrade's name, layout and format (feather and parquet as freqtrade's pandas
writer leaves them: the six OHLCV columns, `date` a UTC timestamp, lz4 at level 9; json
as its `values` lists with times in ms), merged with what the file holds (the store's
candle wins where both have one), into a new file beside it that then replaces it with one
rename: freqtrade, reading at any moment, sees the old file or the new one, never a torn
one. Columns stay numpy and Arrow arrays throughout: no Python object per candle, and the
heavy parts run without the GIL, so a write on a thread costs the event loop little.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from app.candle import CandleRow
from app.errors import TradeCanvasError
from app.history.datadir import DataFormat, series_files, series_path
from app.history.reader import HistoryFileError, read_ohlcv
from app.series import SeriesId
from app.store import CandleStore

NAMES = ("open", "high", "low", "close", "volume")
Columns = tuple[np.ndarray, tuple[np.ndarray, ...]]  # times (s), the five value columns


class ExportError(TradeCanvasError):
    """A datadir file could not be written (or the one there could not be merged)."""


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    candles_before: int  # in the file before
    candles_after: int


async def stored_rows(store: CandleStore, series_id: str, page: int = 100_000) -> list[CandleRow]:
    """Every candle the store holds of a series, ascending (what a new file is given)."""
    rows: list[CandleRow] = []
    since = -1
    while candles := (await store.page(series_id, page, since=since)).candles:
        rows += candles
        since = candles[-1][0]
    return rows


def write_candles(
    folder: Path, series: SeriesId, rows: Sequence[CandleRow], fmt: DataFormat
) -> Written | None:
    """Merge `rows` into the series' `fmt` file in the venue's datadir `folder` and
    replace it atomically. None when the file already holds every row as it is (nothing
    written). Blocking: run it on a thread."""
    if not rows:
        return None
    existing = [f for f in series_files(folder, series, fmt) if f.format == fmt]
    target = existing[0].path if existing else series_path(folder, series, fmt)
    new = _columns(rows)
    held: Columns | None = None
    if existing:
        try:
            data = read_ohlcv(target, fmt, series.timeframe)
        except HistoryFileError as e:
            # Never replaced: it may be half-written by freqtrade this moment, or damaged.
            raise ExportError(f"cannot merge into {e}") from e
        held = (data.times, data.values)
    merged = _merge(held, new)
    if held is not None and _same(held, merged):
        return None
    try:
        _replace(target, merged, fmt)
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e}") from e
    return Written(target, 0 if held is None else len(held[0]), len(merged[0]))


def _columns(rows: Sequence[CandleRow]) -> Columns:
    table = np.asarray(rows, dtype=np.float64)
    return table[:, 0].astype(np.int64), tuple(table[:, i] for i in range(1, 6))


def _merge(held: Columns | None, new: Columns) -> Columns:
    """Every time of both, once, ascending: the store's (`new`) where both have it."""
    if held is None:
        times, values = new
    else:
        times = np.concatenate([held[0], new[0]])
        values = tuple(np.concatenate([h, n]) for h, n in zip(held[1], new[1], strict=True))
        if not len(held[0]) or (new[0][0] > held[0][-1] and bool(np.all(np.diff(new[0]) > 0))):
            return times, values  # an append, the write-through's usual case
    # The last occurrence of each time (the store's), in time order.
    _, first_in_reversed = np.unique(times[::-1], return_index=True)
    keep = len(times) - 1 - first_in_reversed
    return times[keep], tuple(v[keep] for v in values)


def _same(a: Columns, b: Columns) -> bool:
    return (
        len(a[0]) == len(b[0])
        and bool(np.array_equal(a[0], b[0]))
        and all(np.array_equal(x, y) for x, y in zip(a[1], b[1], strict=True))
    )


def _replace(target: Path, columns: Columns, fmt: DataFormat) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{secrets.token_hex(4)}.trade-canvas")
    try:
        _write(scratch, columns, fmt)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


def _write(path: Path, columns: Columns, fmt: DataFormat) -> None:
    times, values = columns
    if fmt in ("json", "jsongz"):
        # As freqtrade's own handler writes it (pandas' `values` lists, its float
        # rounding): freqtrade's JSON reader then loads exactly what it would from its own.
        import pandas as pd

        frame = pd.DataFrame({"date": times * 1000, **dict(zip(NAMES, values, strict=True))})
        frame.to_json(path, orient="values", compression="gzip" if fmt == "jsongz" else None)
        return
    table = pa.table(
        {
            "date": pa.array(times * 1000, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            **{name: pa.array(v, pa.float64()) for name, v in zip(NAMES, values, strict=True)},
        }
    )
    if fmt == "feather":
        feather.write_feather(table, path, compression="lz4", compression_level=9)
    else:
        import pyarrow.parquet as parquet  # only for parquet datadirs: it is a large module

        parquet.write_table(table, path)
