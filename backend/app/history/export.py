"""Stored candles written back as freqtrade datadir files: `trade-canvas export`, and the
write-through that keeps a datadir current with live closes.

A file gets freqtrade's name, layout and format (feather and parquet as freqtrade's pandas
writer leaves them: the six OHLCV columns, `date` a UTC timestamp, lz4 at level 9; json
as its `values` lists with times in ms), merged with what the file holds (the store's
candle wins where both have one), into a new file beside it that then replaces it with one
rename: freqtrade, reading at any moment, sees the old file or the new one, never a torn
one. Columns stay numpy and Arrow arrays throughout: no Python object per candle, and the
heavy parts run without the GIL, so a write on a thread costs the event loop little.

Another writer may change the file while it is merged: trade-canvas's own (the server's
write-through and `export`) take an advisory lock on the folder for a merge. freqtrade
takes none: it reads a file, adds to it and writes it in place, so a file it changed less
than `QUIET_S` ago is left for later (it may be mid-way), and its signature is read again
just before the rename: if it moved, the merge starts over from the file as it is now, so
rows freqtrade added are not replaced by an older merge. (A write freqtrade opens in the
microseconds between that check and the rename, after a quiet second, is the one case
left: no lock it would honour exists.) Scratch files an interrupted write left
(`.<name>.<hex>.trade-canvas`) are removed, under the same lock, by `remove_scratch`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from app.candle import CandleRow
from app.errors import TradeCanvasError
from app.history.datadir import DataFormat, series_files, series_path
from app.history.reader import HistoryFileError, file_columns, read_ohlcv
from app.series import OPEN_INTEREST, SINGLE_VALUES, UNREPORTED, CandleType, SeriesId
from app.store import CandleStore

NAMES = ("open", "high", "low", "close", "volume")
SCRATCH_SUFFIX = ".trade-canvas"
# Merges started over because another writer changed the file meanwhile, before giving up
# for now (the caller retries later).
MERGE_ATTEMPTS = 5
# A file another program changed within this long is left alone for now: freqtrade rewrites
# its files in place, unlocked, after reading them, and a rename racing that loses its rows.
QUIET_S = 1.0
Columns = tuple[np.ndarray, tuple[np.ndarray, ...]]  # times (s), the five value columns
# What changes when another writer replaces or rewrites a file: inode, size, mtime (ns).
Signature = tuple[int, int, int]
# The signature of each file as this process last wrote it: its own writes need no quiet.
_WRITTEN: dict[Path, Signature] = {}


class ExportError(TradeCanvasError):
    """A datadir file could not be written (or the one there could not be merged)."""


class FileBusy(ExportError):
    """Another program changed the file a moment ago (and may be writing it still)."""


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
    folder: Path,
    series: SeriesId,
    rows: Sequence[CandleRow],
    fmt: DataFormat,
    *,
    wait_s: float = 0.0,
) -> Written | None:
    """Merge `rows` into the series' `fmt` file in the venue's datadir `folder` and
    replace it atomically. None when the file already holds every row as it is (nothing
    written). A file another program changed less than `QUIET_S` ago is waited for up to
    `wait_s`, then `FileBusy`. Blocking: run it on a thread."""
    if not rows:
        return None
    new = _columns(rows)
    target = _target(folder, series, fmt)
    with _locked(target.parent):
        for _ in range(MERGE_ATTEMPTS):
            signature = _quiet(target, time.monotonic() + wait_s)
            held = _held(target, series, fmt) if signature is not None else None
            merged = _merge(held, new)
            if held is not None and _same(held, merged):
                return None
            if _replace(target, merged, fmt, signature, series.market):
                return Written(target, 0 if held is None else len(held[0]), len(merged[0]))
    raise ExportError(f"{target} changed under each of {MERGE_ATTEMPTS} merges (retried later)")


def _quiet(target: Path, deadline: float) -> Signature | None:
    """The file's signature once no other program has changed it for `QUIET_S`."""
    while True:
        signature = _signature(target)
        if signature is None or _WRITTEN.get(target) == signature:
            return signature
        left = QUIET_S - (time.time() - signature[2] / 1e9)
        if left <= 0:
            return signature
        if time.monotonic() + left > deadline:
            raise FileBusy(f"{target} is being written by another program (retried)")
        time.sleep(left)  # on a thread


def file_times(folder: Path, series: SeriesId, fmt: DataFormat) -> np.ndarray | None:
    """The candle times (s) the series' `fmt` file holds, or None without a file. Raises
    `ExportError` when it cannot be read. Blocking: run it on a thread."""
    target = _target(folder, series, fmt)
    if not target.is_file():
        return None
    held = _held(target, series, fmt)
    return held[0]


def remove_scratch(folder: Path) -> int:
    """Remove the scratch files interrupted writes left in a venue's datadir (spot and
    futures); how many. Blocking: run it on a thread."""
    removed = 0
    for place in (folder, folder / "futures"):
        if not place.is_dir():
            continue
        with _locked(place):
            for scratch in place.glob(f".*{SCRATCH_SUFFIX}"):
                with contextlib.suppress(FileNotFoundError):
                    scratch.unlink()
                    removed += 1
    return removed


def _target(folder: Path, series: SeriesId, fmt: DataFormat) -> Path:
    existing = [f for f in series_files(folder, series, fmt) if f.format == fmt]
    return existing[0].path if existing else series_path(folder, series, fmt)


def _held(target: Path, series: SeriesId, fmt: DataFormat) -> Columns:
    try:
        data = read_ohlcv(target, fmt, series.timeframe, series.market)
    except HistoryFileError as e:
        # Never replaced: it may be half-written by freqtrade this moment, or damaged.
        raise ExportError(f"cannot merge into {e}") from e
    return data.times, data.values


@contextlib.contextmanager
def _locked(place: Path) -> Iterator[None]:
    """An exclusive advisory lock on the folder `place` (held by one writer at a time)."""
    try:
        place.mkdir(parents=True, exist_ok=True)
        # The folder itself is locked: no lock file is left among freqtrade's.
        fd = os.open(place, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise ExportError(f"cannot lock {place}: {e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _signature(path: Path) -> Signature | None:
    """What changes when another writer replaces or rewrites the file; None if absent."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ExportError(f"cannot read {path}: {e}") from e
    return st.st_ino, st.st_size, st.st_mtime_ns


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


def _replace(
    target: Path, columns: Columns, fmt: DataFormat, read: Signature | None, kind: CandleType
) -> bool:
    """Write `columns` beside `target` and rename it into its place, unless the file is no
    longer the one read (`read`, its signature then): False, and nothing replaced."""
    scratch = target.with_name(f".{target.name}.{secrets.token_hex(4)}{SCRATCH_SUFFIX}")
    try:
        _write(scratch, columns, fmt, kind)
        if _signature(target) != read:
            return False
        os.replace(scratch, target)
        if (written := _signature(target)) is not None:
            _WRITTEN[target] = written
    except OSError as e:
        # The cause without the scratch file's name, which differs every time.
        raise ExportError(f"cannot write {target}: {e.strerror or e}") from e
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)
    return True


def _write(path: Path, columns: Columns, fmt: DataFormat, kind: CandleType) -> None:
    """In freqtrade's layout for the candle type: a funding rate (stored flat) as `date,
    funding_rate`, open interest as `date, open_interest_amount, open_interest_value`
    (what the venue did not report, NaN)."""
    times, values = columns
    names: tuple[str, ...] = NAMES
    if kind in SINGLE_VALUES:
        names, values = file_columns(kind)[1:], values[:1]
    elif kind in OPEN_INTEREST:
        names = file_columns(kind)[1:]
        values = tuple(np.where(v == UNREPORTED, np.nan, v) for v in (values[0], values[4]))
    if fmt in ("json", "jsongz"):
        # As freqtrade's own handler writes it (pandas' `values` lists, its float
        # rounding): freqtrade's JSON reader then loads exactly what it would from its own.
        import pandas as pd

        frame = pd.DataFrame({"date": times * 1000, **dict(zip(names, values, strict=True))})
        frame.to_json(path, orient="values", compression="gzip" if fmt == "jsongz" else None)
        return
    table = pa.table(
        {
            "date": pa.array(times * 1000, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            **{name: pa.array(v, pa.float64()) for name, v in zip(names, values, strict=True)},
        }
    )
    if fmt == "feather":
        feather.write_feather(table, path, compression="lz4", compression_level=9)
    else:
        import pyarrow.parquet as parquet  # only for parquet datadirs: it is a large module

        parquet.write_table(table, path)
