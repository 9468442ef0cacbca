"""What a user gets wrong before the server even starts, said in words: a misspelt
`TRADE_CANVAS_*` variable (silently ignored otherwise), a datadir that is not where the
OHLCV files are, and the banner that names what the server is about to use."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

from app.config import Settings
from app.history.datadir import Datadirs, list_datadir
from app.series import EXCHANGE_TIMEFRAMES, SeriesId

PREFIX = "TRADE_CANVAS_"


def known_variables() -> list[str]:
    """Every `TRADE_CANVAS_*` name the settings read."""
    names = []
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names += [f"{PREFIX}{name}_{sub}".upper() for sub in group.model_fields]
        else:
            names.append(f"{PREFIX}{name}".upper())
    return sorted(names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning per `TRADE_CANVAS_*` variable no setting reads, with the closest name."""
    known = known_variables()
    warnings = []
    for name in sorted(n for n in environ if n.upper().startswith(PREFIX)):
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{name} is not a trade-canvas setting and is ignored{hint}")
    return warnings


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
        for name in EXCHANGE_TIMEFRAMES
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


def banner(
    settings: Settings, whitelist: Sequence[SeriesId], datadirs: Datadirs | None
) -> list[str]:
    """What the server uses, one line each, for the log at start."""
    lines = [f"trade-canvas serving on http://{settings.host}:{settings.port}/"]
    lines.append(f"  store: SQLite {settings.db.path.resolve()}")
    if settings.market_history_source == "off":
        lines.append("  history: off (only what the store holds and live data)")
    elif settings.market_history_source == "ccxt":
        lines.append("  history: the venues' REST APIs (ccxt)")
    elif datadirs is not None:
        counts = ", ".join(
            f"{name} {path} ({ohlcv_file_count(path, name)} files)"
            for name, path in datadirs.all().items()
        )
        download = "on" if settings.history.download else "off"
        lines.append(f"  datadirs: {counts}; download-data for missing series: {download}")
    config = settings.freqtrade.config
    lines.append(f"  freqtrade config: {config.resolve() if config else 'none'}")
    shown = ", ".join(str(s) for s in whitelist[:5])
    more = f" and {len(whitelist) - 5} more" if len(whitelist) > 5 else ""
    lines.append(f"  whitelist: {len(whitelist)} series{': ' if whitelist else ''}{shown}{more}")
    lines.append(f"  live ingest: {'on' if settings.live_ingest else 'off'}")
    return lines
