"""What a user gets wrong before the server even starts, said in words: a misspelt
`TRADE_CANVAS_*` variable (silently ignored otherwise); and the banner that names what the
server is about to use. (A datadir in the wrong place: `history.datadir.datadir_problem`.)"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from app.config import Settings
from app.history.datadir import Datadirs, ohlcv_file_count
from app.redact import safe_url
from app.series import SeriesId
from app.store import describe_store

PREFIX = "TRADE_CANVAS_"


def known_variables() -> list[str]:
    """Every `TRADE_CANVAS_*` name the settings read."""
    groups = Settings.groups()
    names = [f"{PREFIX}{name}".upper() for name in Settings.model_fields if name not in groups]
    for name, group in groups.items():
        names += [f"{PREFIX}{name}_{sub}".upper() for sub in group.model_fields]
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


def banner(
    settings: Settings, whitelist: Sequence[SeriesId], datadirs: Datadirs | None
) -> list[str]:
    """What the server uses, one line each, for the log at start."""
    lines = [f"trade-canvas serving on http://{settings.host}:{settings.port}/"]
    if settings.demo:
        lines.append(
            "  DEMO DATA: local exchanges make the candles up; they are kept apart from a real "
            "store (user_data/demo/ unless you named another)"
        )
    lines.append(f"  store: {describe_store(settings.store.url, settings.db.path)}")
    if settings.bus.url is not None:
        lines.append(f"  cluster: role {settings.role}, bus {safe_url(settings.bus.url)}")
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
    if settings.bots:
        bots = ", ".join(f"{bot.name} ({bot.url})" for bot in settings.bots)
        lines.append(f"  bots on the chart: {bots}")
    return lines
