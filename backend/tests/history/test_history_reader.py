"""The datadir reader against real freqtrade files, and its rules for bad ones."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from app.history.datadir import (
    FORMAT_ORDER,
    Datadirs,
    list_datadir,
    pair_to_filename,
    resolve_datadir,
    series_files,
)
from app.history.reader import HistoryFileError, read_ohlcv
from app.series import CandleType, parse_series_id
from tests.freqtrade_support import freqtrade_rows, store_with_freqtrade
from tests.recorded import DATADIR, PARQUET_DATADIR

SERVED = [e for d in (DATADIR, PARQUET_DATADIR) for e in list_datadir(d) if e.series_id]


def rows_of(
    path: Path, fmt: str, timeframe: str, candle_type: CandleType = "spot"
) -> list[tuple[int, float, float, float, float, float]]:
    data = read_ohlcv(path, fmt, timeframe, candle_type)  # type: ignore[arg-type]
    return [row for batch in data.batches(100_000) for row in batch]


@pytest.mark.parametrize("entry", SERVED, ids=lambda e: e.path.name)
def test_every_fixture_file_reads_as_freqtrade_loads_it(entry) -> None:  # type: ignore[no-untyped-def]
    series = parse_series_id(entry.series_id)
    expected = freqtrade_rows(
        entry.path.parent.parent if series.market != "spot" else entry.path.parent,
        series.symbol,
        series.timeframe,
        entry.format,
        series.market,
    )
    assert len(expected) > 0
    assert rows_of(entry.path, entry.format, series.timeframe, series.market) == expected


def test_fixture_listing_names_every_unusable_file() -> None:
    problems = {e.path.name: e.problem for e in list_datadir(DATADIR) if e.problem}
    assert problems == {
        "NOPAIR_XXX-4m.json": "timeframe '4m' is not a Binance kline interval",
        "UNITTEST_BTC-8m.feather": "timeframe '8m' is not a Binance kline interval",
        "UNITTEST_BTC-8m.json.gz": "timeframe '8m' is not a Binance kline interval",
    }
    served = {e.series_id for e in list_datadir(DATADIR) if e.series_id}
    assert "binance:futures:XRP/USDT:USDT:1h" in served
    assert "binance:mark:XRP/USDT:USDT:1h" in served
    assert "binance:mark:XRP/USDT:USDT:8h" in served
    assert "binance:mark:UNITTEST/USDT:USDT:1h" in served
    assert "binance:funding_rate:XRP/USDT:USDT:8h" in served
    assert "binance:spot:UNITTEST/BTC:1m" in served


def test_fixture_bad_files_under_served_names(tmp_path: Path) -> None:
    """The fixture's 0-byte feather and empty JSON, under names of served series."""
    shutil.copy(DATADIR / "UNITTEST_BTC-8m.feather", tmp_path / "A_BTC-1m.feather")
    shutil.copy(DATADIR / "NOPAIR_XXX-4m.json", tmp_path / "B_BTC-1m.json")
    with pytest.raises(HistoryFileError, match="empty file") as info:
        read_ohlcv(tmp_path / "A_BTC-1m.feather", "feather", "1m")
    assert info.value.reason == "empty"
    assert len(read_ohlcv(tmp_path / "B_BTC-1m.json", "json", "1m")) == 0


def test_funding_rate_timestamps_are_floored_and_then_unaligned_rows_dropped() -> None:
    data = read_ohlcv(
        DATADIR / "futures" / "XRP_USDT_USDT-8h-funding_rate.feather", "feather", "8h"
    )
    assert data.report.subsecond == 59
    assert data.report.rows_read == 91


def test_file_names_follow_freqtrade() -> None:
    assert pair_to_filename("BTC/USDT:USDT") == "BTC_USDT_USDT"
    assert pair_to_filename("A.B@C$D+E F/G") == "A_B_C_D_E_F_G"
    series = parse_series_id("binance:futures:XRP/USDT:USDT:1h")
    found = series_files(DATADIR, series)
    assert [(f.path.name, f.format) for f in found] == [
        ("XRP_USDT_USDT-1h-futures.feather", "feather"),
        ("XRP_USDT_USDT-1h-futures.json.gz", "jsongz"),
    ]
    # The configured format is tried first.
    found = series_files(DATADIR, series, preferred="jsongz")
    assert found[0].format == "jsongz"
    assert FORMAT_ORDER == ("feather", "parquet", "jsongz", "json")


def test_monthly_files_are_written_1Mo(tmp_path: Path) -> None:
    rows = [(1_704_067_200, 1.0, 2.0, 0.5, 1.5, 3.0), (1_706_745_600, 1.0, 2.0, 0.5, 1.5, 3.0)]
    store_with_freqtrade(tmp_path, "BTC/USDT", "1M", rows, "feather")
    assert (tmp_path / "BTC_USDT-1Mo.feather").exists()
    found = series_files(tmp_path, parse_series_id("binance:spot:BTC/USDT:1M"))
    assert len(found) == 1
    assert rows_of(found[0].path, "feather", "1M") == rows


@pytest.mark.parametrize("fmt", ["feather", "parquet", "json", "jsongz"])
def test_files_written_by_freqtrade_in_every_format(tmp_path: Path, fmt: str) -> None:
    rows = [
        (1_700_000_040 + 60 * i, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 0.25 * i) for i in range(300)
    ]
    store_with_freqtrade(tmp_path, "ETH/USDT:USDT", "1m", rows, fmt, market="futures")
    found = series_files(tmp_path, parse_series_id("binance:futures:ETH/USDT:USDT:1m"))
    assert [f.format for f in found] == [fmt]
    assert rows_of(found[0].path, fmt, "1m") == rows


_DEFAULTS = {"open": 10.0, "high": 12.0, "low": 9.0, "close": 11.0, "volume": 1.0}


def _write_table(path: Path, dates: pa.Array, n: int, **overrides: list[float]) -> None:
    cols = {"date": dates}
    for name, default in _DEFAULTS.items():
        cols[name] = pa.array(overrides.get(name, [default] * n), type=pa.float64())
    feather.write_feather(pa.table(cols), path)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC"])
def test_any_timestamp_unit_becomes_epoch_seconds(
    tmp_path: Path, unit: str, tz: str | None
) -> None:
    seconds = [1_700_000_040, 1_700_000_100]
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    dates = pa.array([s * scale for s in seconds], type=pa.timestamp(unit, tz=tz))
    _write_table(tmp_path / "f.feather", dates, 2)
    assert read_ohlcv(tmp_path / "f.feather", "feather", "1m").times.tolist() == seconds


def test_integer_dates_are_judged_by_magnitude(tmp_path: Path) -> None:
    _write_table(tmp_path / "f.feather", pa.array([1_700_000_040_000, 1_700_000_100_000]), 2)
    assert read_ohlcv(tmp_path / "f.feather", "feather", "1m").times.tolist() == [
        1_700_000_040,
        1_700_000_100,
    ]


def test_invalid_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    t0 = 1_700_000_040
    dates = pa.array([(t0 + 60 * i) * 1000 for i in range(6)], type=pa.timestamp("ms", tz="UTC"))
    _write_table(
        tmp_path / "f.feather",
        dates,
        6,
        open=[10, np.nan, 10, 10, 10, 10],
        high=[12, 12, np.inf, 12, 9, 12],
        low=[9, 9, 9, -1, 9, 9],
        close=[11, 11, 11, 11, 11, 11],
        volume=[1, 1, 1, 1, 1, -5],
    )
    data = read_ohlcv(tmp_path / "f.feather", "feather", "1m")
    assert data.times.tolist() == [t0]
    assert data.report.invalid == 5 and data.report.rows_read == 6


def test_unaligned_rows_are_dropped(tmp_path: Path) -> None:
    t0 = 1_700_000_100  # aligned to 5m
    dates = pa.array([t0, t0 + 60, t0 + 300], type=pa.timestamp("s"))
    _write_table(tmp_path / "f.feather", dates, 3)
    data = read_ohlcv(tmp_path / "f.feather", "feather", "5m")
    assert data.times.tolist() == [t0, t0 + 300]
    assert data.report.unaligned == 1


def test_duplicates_are_merged_like_freqtrade(tmp_path: Path) -> None:
    t0 = 1_700_000_040
    rows = [
        [(t0 + 60) * 1000, 5, 8, 4, 6, 2],
        [t0 * 1000, 1, 3, 0.5, 2, 7],
        [t0 * 1000, 1.5, 4, 0.7, 2.5, 3],
        [t0 * 1000, 1.2, 3.5, 0.4, 2.2, 9],
    ]
    path = tmp_path / "X_BTC-1m.json"
    path.write_bytes(orjson.dumps(rows))
    data = read_ohlcv(path, "json", "1m")
    assert data.report.duplicates == 2
    got = [row for batch in data.batches(10) for row in batch]
    # freqtrade's own cleaning of the same file is the reference.
    assert got == freqtrade_rows(tmp_path, "X/BTC", "1m", "json")
    assert got[0] == (t0, 1.0, 4.0, 0.4, 2.2, 9.0)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("f.feather", b"", "empty"),
        ("f.feather", b"garbage that is not arrow at all" * 10, "corrupt"),
        ("f.parquet", b"PAR1 truncated", "corrupt"),
        ("f.json", b"[[1, 2, 3", "corrupt"),
        ("f.json", b'{"a": 1}', "corrupt"),
        ("f.json", b"[[1, 2, 3]]", "columns"),
        ("f.json", b'[["a", "b", "c", "d", "e", "f"]]', "columns"),
        ("f.json.gz", b"not gzip", "corrupt"),
    ],
)
def test_unusable_files_are_rejected_whole(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    fmt = {"feather": "feather", "parquet": "parquet", "json": "json", "gz": "jsongz"}[
        name.rsplit(".", 1)[1]
    ]
    with pytest.raises(HistoryFileError) as info:
        read_ohlcv(path, fmt, "1m")  # type: ignore[arg-type]
    assert info.value.reason == reason


def test_truncated_feather_is_rejected(tmp_path: Path) -> None:
    data = (DATADIR / "ETH_BTC-5m.feather").read_bytes()
    (tmp_path / "f.feather").write_bytes(data[: len(data) // 2])
    with pytest.raises(HistoryFileError) as info:
        read_ohlcv(tmp_path / "f.feather", "feather", "5m")
    assert info.value.reason == "corrupt"


def test_wrong_columns_are_rejected(tmp_path: Path) -> None:
    feather.write_feather(pa.table({"date": [1], "price": [1.0]}), tmp_path / "f.feather")
    with pytest.raises(HistoryFileError) as info:
        read_ohlcv(tmp_path / "f.feather", "feather", "1m")
    assert info.value.reason == "columns"


def test_gzip_json_reads(tmp_path: Path) -> None:
    path = tmp_path / "f.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps([[1_700_000_040_000, 1, 2, 0.5, 1.5, 3]])))
    assert read_ohlcv(path, "jsongz", "1m").times.tolist() == [1_700_000_040]


def test_datadir_resolution(tmp_path: Path) -> None:
    explicit = tmp_path / "mine"
    assert resolve_datadir(explicit, None) == Datadirs(explicit, "binance")
    default = resolve_datadir(None, None)
    assert default.all() == {
        "binance": Path("user_data/data/binance"), "bybit": Path("user_data/data/bybit"),
        "okx": Path("user_data/data/okx"),
    }  # fmt: skip
    config = tmp_path / "config.json"
    config.write_text('{\n // freqtrade allows comments\n "datadir": "/data/x",\n}')
    assert resolve_datadir(None, config) == Datadirs(Path("/data/x"), "binance")
    config.write_text('{"user_data_dir": "/ud", "exchange": {"name": "Bybit"}}')
    assert resolve_datadir(None, config).all() == {
        "binance": Path("/ud/data/binance"), "bybit": Path("/ud/data/bybit"),
        "okx": Path("/ud/data/okx"),
    }  # fmt: skip
    assert resolve_datadir(explicit, config) == Datadirs(explicit, "bybit")
    # A datadir named after a venue is that venue's, whatever the config says; the other
    # venues' folders sit beside it.
    named = tmp_path / "data" / "bybit"
    assert resolve_datadir(named, None).all() == {
        "binance": tmp_path / "data" / "binance", "bybit": named,
        "okx": tmp_path / "data" / "okx",
    }  # fmt: skip
