"""Stored candles written back as freqtrade datadir files: `trade-canvas export`, and the
write-through that keeps a datadir current with live closes.

A file is written by freqtrade's own data handler (its names, layout and format), merged
with what the file holds (the store's candle wins where both have one), into a new file
beside it that then replaces it with one rename: freqtrade, reading at any moment, sees the
old file or the new one, never a torn one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from app.candle import CandleRow
from app.errors import TradeCanvasError
from app.history.datadir import DataFormat, series_files
from app.history.reader import HistoryFileError, read_ohlcv
from app.series import SeriesId

if TYPE_CHECKING:
    import pandas as pd

COLUMNS: Final = ("date", "open", "high", "low", "close", "volume")


class ExportError(TradeCanvasError):
    """A datadir file could not be written (or the one there could not be merged)."""


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    candles_before: int  # in the file before
    candles_after: int


def write_candles(
    folder: Path, series: SeriesId, rows: Sequence[CandleRow], fmt: DataFormat
) -> Written | None:
    """Merge `rows` (ascending or not) into the series' `fmt` file in the venue's datadir
    `folder`, and replace it atomically. None when the file already holds every row as it
    is (nothing written). Blocking: run it on a thread."""
    existing = [f for f in series_files(folder, series, fmt) if f.format == fmt]
    held: pd.DataFrame | None = None
    if existing:
        try:
            data = read_ohlcv(existing[0].path, fmt, series.timeframe)
        except HistoryFileError as e:
            # Never replaced: it may be freqtrade's, half-written this moment, or damaged.
            raise ExportError(f"cannot merge into {e}") from e
        held = _frame(data.times, *data.values)
    new = _frame(*(np.asarray(col) for col in zip(*rows, strict=True))) if rows else None
    if new is None:
        return None
    if held is not None:
        merged = _merge(held, new)
        if len(merged) == len(held) and merged.equals(held):
            return None
    else:
        merged = _merge(new.iloc[0:0], new)
    return Written(
        _replace(folder, series, merged, fmt), 0 if held is None else len(held), len(merged)
    )


def _frame(times: np.ndarray, *values: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(dict(zip(COLUMNS[1:], values, strict=True)))
    frame.insert(0, "date", np.asarray(times, dtype=np.int64))
    return frame


def _merge(held: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Every time of both, once: the store's (`new`) where both have it, ascending."""
    import pandas as pd

    merged = pd.concat([held, new], ignore_index=True)
    merged = merged.drop_duplicates(subset="date", keep="last")
    return merged.sort_values("date", kind="stable").reset_index(drop=True)


def _replace(folder: Path, series: SeriesId, frame: pd.DataFrame, fmt: DataFormat) -> Path:
    import pandas as pd
    from freqtrade.data.history.datahandlers import get_datahandler
    from freqtrade.enums import CandleType

    out = frame.copy()
    out["date"] = pd.to_datetime(out["date"], unit="s", utc=True)
    candle_type = CandleType.SPOT if series.market == "spot" else CandleType.FUTURES
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".trade-canvas-write-", dir=folder))
    try:
        get_datahandler(scratch, fmt).ohlcv_store(series.symbol, series.timeframe, out, candle_type)
        [written] = [p for p in scratch.rglob("*") if p.is_file()]
        target = folder / written.relative_to(scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written, target)
        return target
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot write {series} into {folder}: {e}") from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
