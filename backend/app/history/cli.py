"""`trade-canvas import` and `trade-canvas datadir ls`: the datadir from a terminal.

Import runs the server's own HistoryBootstrapper against the store, so what the command
imports is exactly what the server would."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import orjson

from app.config import Settings
from app.errors import TradeCanvasError
from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import Datadirs, configured_format, list_datadirs, resolve_datadir
from app.history.source import HistoryWriter
from app.metrics import Metrics
from app.series import SeriesId, parse_series_id
from app.store import CandleStore
from app.tasks import spawn


def datadir_of(settings: Settings, override: Path | None) -> Datadirs:
    return resolve_datadir(override or settings.freqtrade.datadir, settings.freqtrade.config)


def datadir_ls(settings: Settings, datadir: Path | None, as_json: bool, out: TextIO) -> int:
    datadirs = datadir_of(settings, datadir)
    entries = list_datadirs(datadirs)
    if as_json:
        out.write(orjson.dumps([e.as_dict() for e in entries]).decode() + "\n")
        return 0
    folders = ", ".join(f"{name}: {path}" for name, path in datadirs.all().items())
    print(f"{datadirs.root}: {len(entries)} OHLCV files ({folders})", file=out)
    rows = [
        (e.series_id or f"({e.pair} {e.timeframe} {e.candle_type})", e.format,
         _size(e.size_bytes), e.problem or "ok")
        for e in entries
    ]  # fmt: skip
    _table(rows, ("series", "format", "size", "status"), out)
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} GB"


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for i, row in enumerate([header, *rows]):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def run_import(
    settings: Settings,
    datadir: Path | None,
    series_ids: list[str],
    import_all: bool,
    writer_of: Callable[[CandleStore], HistoryWriter],
    out: TextIO = sys.stdout,
) -> int:
    path = datadir_of(settings, datadir)
    if import_all:
        entries = [e for e in list_datadirs(path) if e.series_id]
        targets = [
            parse_series_id(s) for s in dict.fromkeys(e.series_id for e in entries if e.series_id)
        ]
    elif series_ids:
        targets = [parse_series_id(s) for s in series_ids]
    else:
        raise TradeCanvasError("name --series ID ... or --all")
    return asyncio.run(_import(settings, path, targets, writer_of, out))


async def _import(
    settings: Settings,
    datadir: Datadirs,
    targets: list[SeriesId],
    writer_of: Callable[[CandleStore], HistoryWriter],
    out: TextIO,
) -> int:
    metrics = Metrics()
    store = CandleStore(settings.db.path, metrics)
    await store.open()
    options = BootstrapOptions(
        datadirs=datadir,
        preferred_format=settings.history.data_format
        or configured_format(settings.freqtrade.config),
        batch_size=settings.history.batch_size,
        recheck_s=0,
        wait_s=float("inf"),
        min_candles=0,
    )
    bootstrapper = HistoryBootstrapper(store, writer_of(store), options, HistoryMetrics(metrics))
    summary = []
    failed = 0
    try:
        for series in targets:
            key = str(series)
            before = await store.stats(key)
            job = spawn(bootstrapper.ensure(series, complete=True), f"import {key}")
            started = time.monotonic()
            while not job.done():
                _progress(bootstrapper, key, started, out)
                await asyncio.wait([job], timeout=0.2)
            await job
            _progress(bootstrapper, key, started, out, final=True)
            state = bootstrapper.state(key)
            after = await store.stats(key)
            added = (after.count if after else 0) - (before.count if before else 0)
            status = state.status if state else "missing"
            failed += status in ("failed", "missing")
            problems = ", ".join(f"{k} {v}" for k, v in (state.cleaned if state else {}).items())
            summary.append(
                (key, str(state.rows_in_file if state else 0), str(added),
                 str(after.count if after else 0), status,
                 (state.last_error if state and state.last_error else problems) or "")
            )  # fmt: skip
    finally:
        await bootstrapper.stop()
        await store.close()
    print(file=out)
    _table(summary, ("series", "in file", "added", "stored", "status", "notes"), out)
    return 1 if failed else 0


def _progress(
    bootstrapper: HistoryBootstrapper, key: str, started: float, out: TextIO, final: bool = False
) -> None:
    state = bootstrapper.state(key)
    done = state.rows_imported if state else 0
    total = state.rows_in_file if state else 0
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = done / elapsed
    eta = (total - done) / rate if rate > 0 and total > done else 0.0
    width = 30
    filled = int(width * done / total) if total else (width if final else 0)
    bar = "#" * filled + "." * (width - filled)
    status = state.status if state else "checking"
    line = (
        f"\r{key:40.40} [{bar}] {done:>10,}/{total:<10,} rows "
        f"{rate:>10,.0f} rows/s  ETA {eta:5.1f}s  {status:<11}"
    )
    out.write(line + ("\n" if final else ""))
    out.flush()
