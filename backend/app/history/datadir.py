"""A freqtrade datadir: where a series' file is, what the directory holds, and which
directory to use. File names follow freqtrade's own rules exactly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import rapidjson

from app.errors import TradeCanvasError
from app.series import (
    CANDLE_TYPES,
    SeriesId,
    default_venue,
    parse_series_id,
    venue_names,
    venue_timeframes,
)

DataFormat = Literal["feather", "parquet", "jsongz", "json"]

# When a series exists in several formats, the configured one wins, then this order:
# freqtrade's default (feather) first, then the other binary format, then the JSON ones.
FORMAT_ORDER: Final[tuple[DataFormat, ...]] = ("feather", "parquet", "jsongz", "json")
EXTENSIONS: Final[dict[DataFormat, str]] = {
    "feather": "feather",
    "parquet": "parquet",
    "jsongz": "json.gz",
    "json": "json",
}

_FILENAME = re.compile(
    r"^(?P<pair>[\w-]+?)-(?P<tf>\d+[a-zA-Z]{1,2})(?:-(?P<ct>[a-zA-Z_]+))?"
    r"\.(?P<ext>feather|parquet|json\.gz|json)$"
)
_FORMAT_OF_EXT: Final = {ext: fmt for fmt, ext in EXTENSIONS.items()}


class DatadirConfigError(TradeCanvasError):
    """The freqtrade config could not be read."""


def pair_to_filename(pair: str) -> str:
    """freqtrade's `misc.pair_to_filename`."""
    for ch in ("/", " ", ".", "@", "$", "+", ":"):
        pair = pair.replace(ch, "_")
    return pair


def pair_from_filename(stem: str) -> str:
    """freqtrade's rebuild: the first `_` is `/`, the second `:`."""
    return stem.replace("_", "/", 1).replace("_", ":", 1)


def timeframe_to_file(timeframe: str) -> str:
    return timeframe.replace("M", "Mo")


def timeframe_from_file(name: str) -> str:
    return name.replace("Mo", "M")


@dataclass(frozen=True, slots=True)
class DatadirFile:
    path: Path
    format: DataFormat


def series_path(
    datadir: Path, series: SeriesId, fmt: DataFormat, timeframe_name: str | None = None
) -> Path:
    """Where freqtrade keeps `series` in `fmt` (`1M` as `1Mo`; futures, and the prices
    derived from a contract, under `futures/` named by their candle type)."""
    tf = timeframe_name or timeframe_to_file(series.timeframe)
    if series.market != "spot":
        return (
            datadir
            / "futures"
            / f"{pair_to_filename(series.symbol)}-{tf}-{series.market}.{EXTENSIONS[fmt]}"
        )
    return datadir / f"{pair_to_filename(series.symbol)}-{tf}.{EXTENSIONS[fmt]}"


def series_files(
    datadir: Path, series: SeriesId, preferred: DataFormat | None = None
) -> list[DatadirFile]:
    """The existing files of `series`, in the order they should be tried."""
    order = [preferred] if preferred else []
    order += [f for f in FORMAT_ORDER if f != preferred]
    found: list[DatadirFile] = []
    # `1M` files are written as `1Mo`; like freqtrade, fall back to the unmodified name.
    names = dict.fromkeys((timeframe_to_file(series.timeframe), series.timeframe))
    for fmt in order:
        for tf in names:
            path = series_path(datadir, series, fmt, tf)
            if path.is_file():
                found.append(DatadirFile(path, fmt))
                break
    return found


@dataclass(frozen=True, slots=True)
class DatadirEntry:
    """One OHLCV file in a datadir, and what trade-canvas makes of it."""

    path: Path
    format: DataFormat
    pair: str
    timeframe: str
    candle_type: str
    size_bytes: int
    series_id: str | None
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "pair": self.pair,
            "timeframe": self.timeframe,
            "candle_type": self.candle_type,
            "size_bytes": self.size_bytes,
            "series_id": self.series_id,
            "problem": self.problem,
        }


def default_datadir() -> Path:
    return Path("user_data/data") / default_venue()


def list_datadir(datadir: Path, exchange: str | None = None) -> list[DatadirEntry]:
    """Every OHLCV file in `exchange`'s `datadir` (spot) and `datadir/futures`, sorted by
    path (of the default venue when `exchange` is not given)."""
    exchange = exchange or default_venue()
    entries = [
        entry
        for folder, default_type in ((datadir, "spot"), (datadir / "futures", None))
        for entry in _entries(folder, default_type, exchange)
    ]
    return sorted(entries, key=lambda e: str(e.path))


def list_datadirs(datadirs: Datadirs) -> list[DatadirEntry]:
    return [e for name, path in datadirs.all().items() for e in list_datadir(path, name)]


def _entries(folder: Path, default_type: str | None, exchange: str) -> Iterator[DatadirEntry]:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        match = _FILENAME.match(path.name)
        if match is None or not path.is_file() or match["pair"].endswith("-trades"):
            continue
        candle_type = match["ct"] or default_type or "futures"
        if match["ct"] and default_type == "spot":
            continue  # other candle types live under futures/
        pair = pair_from_filename(match["pair"])
        timeframe = timeframe_from_file(match["tf"])
        series_id, problem = _series_of(exchange, pair, timeframe, candle_type)
        size = path.stat().st_size
        if problem is None and size == 0:
            problem = "empty file (0 bytes)"
        yield DatadirEntry(
            path=path,
            format=_FORMAT_OF_EXT[match["ext"]],
            pair=pair,
            timeframe=timeframe,
            candle_type=candle_type,
            size_bytes=size,
            series_id=series_id,
            problem=problem,
        )


def _series_of(
    exchange: str, pair: str, timeframe: str, candle_type: str
) -> tuple[str | None, str | None]:
    if candle_type not in CANDLE_TYPES:
        served = ", ".join(CANDLE_TYPES)
        return None, f"candle type {candle_type!r} is not served (only {served})"
    if timeframe not in venue_timeframes(exchange):
        return None, f"timeframe {timeframe!r} is not a {exchange.capitalize()} kline interval"
    try:
        return str(parse_series_id(f"{exchange}:{candle_type}:{pair}:{timeframe}")), None
    except TradeCanvasError as e:
        return None, str(e)


# -- which datadir --------------------------------------------------------------------


def load_freqtrade_config(path: Path) -> dict[str, Any]:
    """Read a freqtrade config the way freqtrade does (comments and trailing commas)."""
    try:
        text = path.read_text()
        config = rapidjson.loads(
            text, parse_mode=rapidjson.PM_COMMENTS | rapidjson.PM_TRAILING_COMMAS
        )
    except (OSError, ValueError) as e:
        raise DatadirConfigError(f"cannot read freqtrade config {path}: {e}") from e
    if not isinstance(config, dict):
        raise DatadirConfigError(f"freqtrade config {path} is not a JSON object")
    return config


def configured_exchange(config: dict[str, Any]) -> str:
    """The exchange a freqtrade config trades on, in series-id spelling (`binance`)."""
    return str((config.get("exchange") or {}).get("name") or default_venue()).lower()


@dataclass(frozen=True, slots=True)
class Datadirs:
    """freqtrade keeps one datadir per exchange (`user_data/data/<exchange>`). `root` is
    the one configured, `owner` the exchange it belongs to; every other venue's datadir is
    its sibling named after that venue."""

    root: Path
    owner: str = field(default_factory=default_venue)

    def of(self, exchange: str) -> Path:
        return self.root if exchange == self.owner else self.root.parent / exchange

    def all(self) -> dict[str, Path]:
        return {name: self.of(name) for name in venue_names()}


def resolve_datadir(explicit: Path | None, config_path: Path | None) -> Datadirs:
    """The explicit datadir, else the config's `datadir`, else
    `<user_data_dir>/data/<exchange>` from the config (as freqtrade resolves it), else
    `user_data/data/<the default venue>`. It belongs to the exchange it is named after,
    else to the config's exchange, else to the default venue."""
    config = load_freqtrade_config(config_path) if config_path is not None else {}
    configured = configured_exchange(config)
    if explicit is not None:
        root = explicit
    elif config.get("datadir"):
        root = Path(config["datadir"])
    elif config_path is not None:
        root = Path(config.get("user_data_dir") or "user_data") / "data" / configured
    else:
        root = default_datadir()
    owner = root.name if root.name in venue_names() else configured
    return Datadirs(root, owner if owner in venue_names() else default_venue())


def ohlcv_file_count(folder: Path, exchange: str) -> int:
    return len(list_datadir(folder, exchange))


def datadir_problem(datadirs: Datadirs) -> str | None:
    """Why the datadir cannot be what the user meant, with a hint; None when it holds
    OHLCV files (of any venue)."""
    root = datadirs.root
    if any(ohlcv_file_count(path, name) for name, path in datadirs.all().items()):
        return None
    # The parent `user_data/data` given for `user_data/data/binance`.
    inside = [
        root / name
        for name in venue_names()
        if (root / name).is_dir() and ohlcv_file_count(root / name, name)
    ]
    if inside:
        return (
            f"the datadir {root} holds no OHLCV files, but {inside[0]} does: freqtrade's datadir "
            f"is the exchange's folder (--datadir {inside[0]})"
        )
    if not root.exists():
        return (
            f"the datadir {root} does not exist: give the folder `freqtrade download-data` "
            "writes to, e.g. user_data/data/binance (--datadir or TRADE_CANVAS_FREQTRADE_DATADIR)"
        )
    if not root.is_dir():
        return f"the datadir {root} is not a directory"
    return (
        f"the datadir {root} holds no OHLCV files (freqtrade names them like "
        "BTC_USDT-5m.feather, futures under futures/)"
    )


def configured_format(config_path: Path | None) -> DataFormat | None:
    if config_path is None:
        return None
    fmt = load_freqtrade_config(config_path).get("dataformat_ohlcv")
    return fmt if fmt in EXTENSIONS else None
