"""`trade-canvas import` and `trade-canvas datadir ls`: the datadir from a terminal.

Import runs the server's own HistoryBootstrapper against the store, so what the command
imports is exactly what the server would."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from app.config import Settings
from app.errors import TradeCanvasError
from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import (
    DatadirEntry,
    Datadirs,
    DataFormat,
    configured_format,
    datadir_problem,
    list_datadir,
    list_datadirs,
    resolve_datadir,
    series_files,
    series_path,
)
from app.history.export import ExportError, remove_scratch, stored_rows, write_candles
from app.history.reader import HistoryFileError, read_ohlcv
from app.history.source import HistoryWriter
from app.metrics import Metrics
from app.series import SeriesId, parse_series_id, timeframe_seconds
from app.store import CandleStore, build_store, store_file
from app.store.holes import holes_between, missing
from app.tasks import spawn


def _existing_datadir(settings: Settings) -> Datadirs:
    datadirs = resolve_datadir(settings.freqtrade.datadir, settings.freqtrade.config)
    if not datadirs.root.is_dir():
        problem = datadir_problem(datadirs)
        raise TradeCanvasError(problem or f"the datadir {datadirs.root} does not exist")
    return datadirs


def datadir_ls(settings: Settings, as_json: bool, out: TextIO) -> int:
    """Every OHLCV file with the candles in it (from, to, how many), as `freqtrade
    list-data --show-timerange` shows them, and what the store holds of each series."""
    datadirs = _existing_datadir(settings)
    entries = list_datadirs(datadirs)
    spans = [_span(e) for e in entries]
    file = store_file(settings.store.url, settings.db.path)
    stored = asyncio.run(_stored(settings)) if file is None or file.is_file() else {}
    if as_json:
        rows = [
            {
                **e.as_dict(),
                **span,
                "problem": e.problem or span["problem"],
                "stored": stored.get(e.series_id or ""),
            }
            for e, span in zip(entries, spans, strict=True)
        ]
        out.write(orjson.dumps(rows).decode() + "\n")
        return 0
    folders = ", ".join(f"{name}: {path}" for name, path in datadirs.all().items())
    print(f"{datadirs.root}: {len(entries)} OHLCV files ({folders})", file=out)
    if not entries and (problem := datadir_problem(datadirs)):
        print(f"hint: {problem}", file=out)
    table: list[tuple[str, ...]] = []
    for e, span in zip(entries, spans, strict=True):
        held = stored.get(e.series_id or "")
        table.append(
            (e.series_id or f"({e.pair} {e.timeframe} {e.candle_type})", e.format,
             _when(span["from"]), _when(span["to"]), _count(span["candles"]),
             _holes(span["holes"], span["missing"]), _count(held["count"]) if held else "-",
             _count(held["holes"]) if held else "-", e.problem or span["problem"] or "ok")
        )  # fmt: skip
    _table(table, ("series", "format", "from", "to", "candles", "holes", "stored",
                   "stored-holes", "status"), out)  # fmt: skip
    return 0


def _span(entry: DatadirEntry) -> dict[str, Any]:
    """From, to and candles of one file (read as the server reads it)."""
    unread = {"from": None, "to": None, "candles": None, "holes": None, "missing": None}
    if entry.series_id is None or entry.problem:
        return {**unread, "problem": None}
    try:
        series = parse_series_id(entry.series_id)
        data = read_ohlcv(entry.path, entry.format, entry.timeframe, series.market)
    except HistoryFileError as e:
        return {**unread, "problem": str(e)}
    times = data.times
    holes = holes_between(times, entry.timeframe)
    return {
        "from": int(times[0]) if len(times) else None,
        "to": int(times[-1]) if len(times) else None,
        "candles": len(times),
        "holes": len(holes),
        "missing": sum(missing(h, entry.timeframe) for h in holes),
        "problem": None,
    }


async def _stored(settings: Settings) -> dict[str, dict[str, Any]]:
    store = build_store(settings.store.url, settings.db.path, Metrics())
    await store.open()
    try:
        return {
            s.series_id: {
                "count": s.count,
                "from": s.first_time,
                "to": s.head_time,
                "holes": s.holes,
            }
            for s in await store.list_series()
        }
    finally:
        await store.close()


def _when(t: int | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _holes(holes: int | None, lacking: int | None) -> str:
    if not holes:
        return _count(holes)
    return f"{holes:,} ({lacking:,} candles)"


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for i, row in enumerate([header, *rows]):
        line = "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        print(line.rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def run_import(
    settings: Settings,
    series_ids: list[str],
    import_all: bool,
    writer_of: Callable[[CandleStore], HistoryWriter],
    out: TextIO = sys.stdout,
) -> int:
    if not import_all and not series_ids:
        raise TradeCanvasError("name --series ID ... or --all")
    targets = [parse_series_id(s) for s in series_ids]  # a bad id is said before all else
    path = _existing_datadir(settings)
    if import_all:
        entries = [e for e in list_datadirs(path) if e.series_id]
        targets = [
            parse_series_id(s) for s in dict.fromkeys(e.series_id for e in entries if e.series_id)
        ]
    fmt = settings.history.data_format or configured_format(settings.freqtrade.config)
    missing = [
        _missing_file(path, s) for s in targets if not series_files(path.of(s.exchange), s, fmt)
    ]
    if missing:
        raise TradeCanvasError("; ".join(missing))
    return asyncio.run(_import(settings, path, targets, writer_of, out))


def _missing_file(datadirs: Datadirs, series: SeriesId) -> str:
    """What was looked for, and which timeframes of the pair the datadir has."""
    folder = datadirs.of(series.exchange)
    looked = series_path(folder, series, "feather")
    timeframes = sorted(
        {e.timeframe for e in list_datadir(folder, series.exchange)
         if e.pair == series.symbol and e.candle_type == series.market},
        key=timeframe_seconds,
    )  # fmt: skip
    has = (
        f"{series.symbol} has {', '.join(timeframes)} there"
        if timeframes
        else f"no timeframe of {series.symbol} is there"
    )
    return f"no datadir file for {series}: looked for {looked} (or .parquet/.json.gz/.json); {has}"


async def _import(
    settings: Settings,
    datadir: Datadirs,
    targets: list[SeriesId],
    writer_of: Callable[[CandleStore], HistoryWriter],
    out: TextIO,
) -> int:
    metrics = Metrics()
    store = build_store(settings.store.url, settings.db.path, metrics)
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
            # A bar redrawn in place is for a terminal; a log or a pipe gets the summary.
            bar = out.isatty()
            while not job.done():
                if bar:
                    _progress(bootstrapper, key, started, out)
                await asyncio.wait([job], timeout=0.2)
            await job
            if bar:
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


# How long `export` waits for a file another program is writing (freqtrade's download-data).
EXPORT_WAIT_S = 30.0


def run_export(
    settings: Settings,
    series_ids: list[str],
    export_all: bool,
    fmt: DataFormat | None,
    out: TextIO = sys.stdout,
) -> int:
    """Write stored series as datadir files (merged with what the files hold)."""
    datadirs = resolve_datadir(settings.freqtrade.datadir, settings.freqtrade.config)
    data_format: DataFormat = (
        fmt
        or settings.history.data_format
        or configured_format(settings.freqtrade.config)
        or "feather"
    )
    if not export_all and not series_ids:
        raise TradeCanvasError("name --series ID ... or --all")
    file = store_file(settings.store.url, settings.db.path)
    if file is not None and not file.is_file():
        raise TradeCanvasError(f"no store at {file} (--db or TRADE_CANVAS_DB_PATH)")
    targets = [parse_series_id(s) for s in series_ids]
    return asyncio.run(_export(settings, datadirs, targets, export_all, data_format, out))


async def _export(
    settings: Settings,
    datadirs: Datadirs,
    targets: list[SeriesId],
    export_all: bool,
    fmt: DataFormat,
    out: TextIO,
) -> int:
    store = build_store(settings.store.url, settings.db.path, Metrics())
    await store.open()
    summary: list[tuple[str, ...]] = []
    failed = 0
    try:
        for folder in datadirs.all().values():
            with contextlib.suppress(ExportError):  # then each file's write says why
                await asyncio.to_thread(remove_scratch, folder)
        stored = {s.series_id: s.count for s in await store.list_series()}
        if export_all:
            targets = [parse_series_id(k) for k, n in sorted(stored.items()) if n]
        for series in targets:
            key = str(series)
            rows = await stored_rows(store, key)
            if not rows:
                failed += 1
                summary.append((key, "0", "-", "-", "nothing stored"))
                continue
            folder = datadirs.of(series.exchange)
            try:
                written = await asyncio.to_thread(
                    write_candles, folder, series, rows, fmt, wait_s=EXPORT_WAIT_S
                )
            except ExportError as e:
                failed += 1
                summary.append((key, f"{len(rows):,}", "-", "-", str(e)))
                continue
            if written is None:
                summary.append((key, f"{len(rows):,}", "-", "-", "file already current"))
            else:
                summary.append((key, f"{len(rows):,}", f"{written.candles_before:,}",
                                f"{written.candles_after:,}", str(written.path)))  # fmt: skip
    finally:
        await store.close()
    _table(summary, ("series", "stored", "file before", "file after", "written"), out)
    return 1 if failed else 0
