"""`trade-canvas` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import ValidationError
from uvicorn.config import LOGGING_CONFIG

from app.config import Settings
from app.errors import ConfigError, TradeCanvasError
from app.logs import LOG_FORMATS, configure_logging
from app.series import SeriesId

if TYPE_CHECKING:
    from app.store import CandleStore

log = logging.getLogger("trade_canvas")
# Read before the settings are (they log as they load).
LOG_FORMAT_VARIABLE = "TRADE_CANVAS_LOG_FORMAT"

# How long a stopping server lets requests in progress finish.
SHUTDOWN_GRACE_S = 5


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    """The settings, with what the command line gives over the environment."""
    given = {
        "host": getattr(args, "host", None),
        "role": getattr(args, "role", None),
        "port": getattr(args, "port", None),
        "freqtrade_datadir": args.datadir,
        "freqtrade_config": args.config,
        "db_path": args.db,
    }
    return Settings(**{k: v for k, v in given.items() if v is not None}, **extra)


def _serve(args: argparse.Namespace) -> int:
    from app.api.app import create_app
    from app.api.http_protocol import http_protocol

    fakes: list[Any] = []
    extra: dict[str, Any] = {}
    if args.demo:
        fakes = _start_demo_exchanges()
        extra = _demo_settings(args, {k: v for f in fakes for k, v in f.settings().items()})
    try:
        settings = _settings(args, **extra)
        whitelist = preflight(settings)
        _announce(settings, whitelist, check_datadir=not args.demo)
    except BaseException:
        for fake in fakes:
            fake.stop()
        raise
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=args.log_level,
            # JSON lines: uvicorn's own loggers (its access log too) go through the root's.
            log_config=None if getattr(args, "log_format", "text") == "json" else LOGGING_CONFIG,
            ws_max_size=settings.ws.max_message_bytes * 4,
            http=http_protocol(settings.http.header_timeout_s),
            # A request may be waiting for room in a venue's budget (a download's for
            # minutes): stopping does not wait for it past this.
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
    finally:
        for fake in fakes:
            fake.stop()
    return 0


def preflight(settings: Settings) -> list[SeriesId]:
    """Fail before serving, with one clear line, on what would otherwise fail inside the
    server's startup with a traceback: the whitelist and freqtrade config, the store file,
    the listening address. Returns the whitelist."""
    import asyncio
    import socket

    from app.metrics import Metrics
    from app.roots.core import whitelist_of
    from app.store import build_store

    whitelist = whitelist_of(settings)
    if settings.freqtrade.config is not None:
        from app.history.datadir import load_freqtrade_config

        load_freqtrade_config(settings.freqtrade.config)

    try:
        with socket.create_server((settings.host, settings.port)):
            pass
    except OSError as e:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {e}") from e

    async def open_store() -> None:
        store = build_store(settings.store.url, settings.db.path, Metrics())
        await store.open()
        await store.close()
        if settings.bus.url is not None:
            from app.bus.factory import engine_for

            await engine_for(settings.bus.url).check(settings.bus.url)

    asyncio.run(open_store())
    return whitelist


def _announce(settings: Settings, whitelist: list[SeriesId], check_datadir: bool) -> None:
    """The banner, and what looks wrong about the datadir."""
    from app.diagnostics import banner
    from app.history.datadir import datadir_problem, resolve_datadir

    datadirs = None
    if settings.market_history_source == "freqtrade":
        datadirs = resolve_datadir(settings.freqtrade.datadir, settings.freqtrade.config)
    for line in banner(settings, whitelist, datadirs):
        log.info("%s", line)
    if check_datadir and datadirs is not None and (problem := datadir_problem(datadirs)):
        log.warning("%s", problem)


def _start_demo_exchanges() -> list[Any]:
    from local_exchange.venues import start_demo_exchanges

    fakes = start_demo_exchanges()
    for fake in fakes:
        print(f"demo: a local {fake.name} is running at {fake.rest_url} (no internet needed)")
    return fakes


# The demo's store and datadirs: its made-up candles never meet a real exchange's.
DEMO_DIR = Path("user_data") / "demo"


def _demo_settings(args: argparse.Namespace, exchange_settings: dict[str, str]) -> dict[str, Any]:
    """Every venue's URLs at its local exchange; a few pairs of each whitelisted, whose
    history the real `freqtrade download-data` fetches from it into the datadir first; a
    store and datadirs of its own (`user_data/demo/`) unless the command line or the
    environment names others."""
    from app.series import default_venue
    from local_exchange.venues import demo_whitelist

    settings: dict[str, Any] = dict(exchange_settings)
    settings.update(
        whitelist=demo_whitelist(),
        market_history_source="freqtrade",
        history_download=True,
        history_download_days=3,
        live_ingest=True,
        demo=True,
    )
    named = {name for name in os.environ if name.startswith("TRADE_CANVAS_")}
    if args.db is None and not named & {"TRADE_CANVAS_DB_PATH", "TRADE_CANVAS_STORE_URL"}:
        settings["db_path"] = DEMO_DIR / "trade_canvas.sqlite"
    if args.datadir is None and not named & {
        "TRADE_CANVAS_FREQTRADE_DATADIR", "TRADE_CANVAS_FREQTRADE_CONFIG"
    }:  # fmt: skip
        settings["freqtrade_datadir"] = DEMO_DIR / "data" / default_venue()
    return settings


def _import(args: argparse.Namespace) -> int:
    from app.history.cli import run_import
    from app.roots.writing import import_writer

    return run_import(_settings(args), args.series, args.all, import_writer)


def _export(args: argparse.Namespace) -> int:
    from app.history.cli import run_export

    return run_export(_settings(args), args.series, args.all, args.format)


def _datadir_ls(args: argparse.Namespace) -> int:
    from app.history.cli import datadir_ls

    return datadir_ls(_settings(args), args.json, sys.stdout)


def _store_sources(args: argparse.Namespace) -> int:
    async def show(store: CandleStore) -> None:
        for series_id, sources in (await store.sources()).items():
            print(series_id)
            for source in sources:
                print(f"  {source.kind}: {source.identity}")

    return _on_store(_settings(args), show)


def _store_forget(args: argparse.Namespace) -> int:
    from app.series import parse_series_id

    series_ids = [str(parse_series_id(s)) for s in args.series]

    async def forget(store: CandleStore) -> None:
        for series_id in series_ids:
            removed = await store.forget(series_id)
            print(f"{series_id}: {removed:,} candles forgotten")

    return _on_store(_settings(args), forget)


def _on_store(settings: Settings, work: Callable[[CandleStore], Awaitable[None]]) -> int:
    """Run `work` on the configured store, opened for it and closed after."""
    from app.metrics import Metrics
    from app.store import build_store

    async def run() -> None:
        store = build_store(settings.store.url, settings.db.path, Metrics())
        await store.open()
        try:
            await work(store)
        finally:
            await store.close()

    asyncio.run(run())
    return 0


def _check_store(args: argparse.Namespace) -> int:
    from app.store.factory import check_store

    path = _sqlite_file(args, "check reads a SQLite file; PostgreSQL checks its own pages")
    bar = _ProgressBar(sys.stderr)
    checked = check_store(path, bar.show)
    bar.done()
    if checked.holes:
        print(f"{path}: {len(checked.holes)} series lack candles between their first and head:")
        for series_id, (holes, lacking) in sorted(checked.holes.items()):
            print(f"  {series_id}: {holes:,} holes, {lacking:,} candles")
        print("A server with live ingest heals them from the exchange in the background.")
    if checked.problems:
        print(f"{path}: {len(checked.problems)} problem(s) found:")
        for problem in checked.problems:
            print(f"  {problem}")
        print("Restore the file from a backup, or move it aside and re-import the datadir.")
        return 1
    print(f"{path}: ok")
    return 0


def _sqlite_file(args: argparse.Namespace, not_sqlite: str) -> Path:
    """The SQLite file the settings name as the store; `not_sqlite` is the error when
    they name PostgreSQL."""
    from app.store.factory import store_file

    settings = _settings(args)
    path = store_file(settings.store.url, settings.db.path)
    if path is None:
        raise ConfigError(not_sqlite)
    return path


# A SQLite command given a PostgreSQL store.
_USE_PG_DUMP = (
    "{} copies the SQLite store; back PostgreSQL up with pg_dump "
    "(scripts/backup-postgres.sh, see docs/operations.md)"
)


def _backup(args: argparse.Namespace) -> int:
    from app.store.sqlite.backup import backup

    store = _sqlite_file(args, _USE_PG_DUMP.format("backup"))
    made = backup(store, args.to)
    print(f"{store} -> {made.path}: {made.series} series, {made.bytes:,} bytes "
          f"in {made.seconds:.1f}s")  # fmt: skip
    return 0


def _restore(args: argparse.Namespace) -> int:
    from app.store.sqlite.backup import restore

    store = _sqlite_file(args, _USE_PG_DUMP.format("restore"))
    bar = _ProgressBar(sys.stderr, "restore")
    kept = restore(args.source, store, bar.show)
    bar.done()
    print(f"{args.source} restored to {store}")
    if kept is not None:
        print(f"the store it replaced is kept as {kept}")
    return 0


class _ProgressBar:
    """A bar on a terminal; elsewhere (a log, a pipe) one line per stage."""

    def __init__(self, out: Any, command: str = "check-store") -> None:
        self._out = out
        self._tty = out.isatty()
        self._stage = ""
        self._command = command

    def show(self, done: int, total: int, what: str) -> None:
        if not self._tty:
            if self._command in ("check-store", "restore"):
                stage = "reading every candle" if what != "SQLite integrity check" else what
            else:
                stage = what
            if stage != self._stage:
                self._stage = stage
                print(f"{self._command}: {stage} ...", file=self._out, flush=True)
            return
        width = 30
        filled = width * done // total if total else width
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done:>12,}/{total:<12,} {what:.40}"
        self._out.write(f"{line:<100}")
        self._out.flush()

    def done(self) -> None:
        if self._tty:
            self._out.write("\n")


def _migrate_store(args: argparse.Namespace) -> int:
    import asyncio

    from app.metrics import Metrics
    from app.store import build_store, describe_store
    from app.store.migrate import copy_store

    source = build_store(args.source, Path(), Metrics())
    target = build_store(args.target, Path(), Metrics())
    bar = _ProgressBar(sys.stderr, "migrate-store")

    async def run() -> int:
        await source.open()
        try:
            await target.open()
            try:
                report = await copy_store(source, target, bar.show)
            finally:
                await target.close()
        finally:
            await source.close()
        bar.done()
        wrong = [r for r in report if not r.ok]
        route = f"{describe_store(args.source, Path())} -> {describe_store(args.target, Path())}"
        copied = sum(r.copied for r in report)
        print(f"{route}: {len(report)} series, {copied:,} candles copied")
        for r in wrong:
            print(f"  {r.series_id}: target holds {r.count:,} candles up to {r.head_time}, "
                  f"source {r.expected:,} up to {r.expected_head}")  # fmt: skip
        return 1 if wrong else 0

    return asyncio.run(run())


def _fake_exchange(args: argparse.Namespace) -> int:
    import time

    from local_exchange.exchange import FakeExchange
    from local_exchange.market import DEFAULT_FUTURES
    from local_exchange.venues import LOCAL_VENUES

    futures = list(DEFAULT_FUTURES)
    futures += [f"SYM{i:04d}USDT" for i in range(max(0, args.extra_futures_symbols))]
    exchange = FakeExchange(
        speed=args.speed, history_days=args.history_days, futures_symbols=futures
    )
    fake = (
        LOCAL_VENUES[args.venue]
        .server(
            exchange,
            host=args.host,
            rest_port=args.rest_port,
            spot_ws_port=args.spot_ws_port,
            futures_ws_port=args.futures_ws_port,
        )
        .start()
    )
    print(f"fake {fake.name} running; point trade-canvas at it with:")
    for name, value in fake.settings_env().items():
        print(f"export {name}={value}")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trade-canvas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _log_level(parser, argparse.SUPPRESS)
    # What every command that reads the store or the datadir takes (as freqtrade's do).
    common = argparse.ArgumentParser(add_help=False)
    _log_level(common, argparse.SUPPRESS)
    common.add_argument(
        "-c", "--config", type=Path, metavar="PATH",
        help="a freqtrade config: its datadir, pair whitelist, timeframe and data format "
        "(TRADE_CANVAS_FREQTRADE_CONFIG)",
    )  # fmt: skip
    common.add_argument(
        "--datadir", type=Path, metavar="PATH",
        help="the freqtrade datadir, e.g. user_data/data/binance (TRADE_CANVAS_FREQTRADE_DATADIR)",
    )  # fmt: skip
    common.add_argument(
        "--db", type=Path, metavar="PATH", help="the SQLite store (TRADE_CANVAS_DB_PATH)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", parents=[common], help="run the market-data server")
    serve.add_argument("--host", help="bind address (default TRADE_CANVAS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default TRADE_CANVAS_PORT or 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="offline demo: local exchanges, history from freqtrade download-data, live pairs",
    )
    serve.add_argument(
        "--role",
        choices=["all", "ingest", "api"],
        help="in a cluster (TRADE_CANVAS_BUS_URL): ingest competes to lead the feeds, api "
        "serves from the shared store and bus, all does both (default TRADE_CANVAS_ROLE or all)",
    )
    serve.set_defaults(func=_serve)

    imp = sub.add_parser(
        "import", parents=[common], help="import freqtrade datadir history into the store"
    )
    imp.add_argument("--series", nargs="+", default=[], metavar="ID", help="series ids")
    imp.add_argument("--all", action="store_true", help="every series in the datadir")
    imp.set_defaults(func=_import)

    export = sub.add_parser(
        "export", parents=[common],
        help="write stored candles as freqtrade datadir files (merged with what they hold)",
    )  # fmt: skip
    export.add_argument("--series", nargs="+", default=[], metavar="ID", help="series ids")
    export.add_argument("--all", action="store_true", help="every stored series")
    export.add_argument(
        "--format", choices=["feather", "parquet", "jsongz", "json"],
        help="default: the config's dataformat_ohlcv, else feather",
    )  # fmt: skip
    export.set_defaults(func=_export)

    datadir = sub.add_parser("datadir", help="inspect the freqtrade datadir")
    datadir_sub = datadir.add_subparsers(dest="datadir_command", required=True)
    ls = datadir_sub.add_parser(
        "ls", parents=[common],
        help="list the OHLCV files: from, to, candles, and what the store holds of each",
    )  # fmt: skip
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_datadir_ls)

    store = sub.add_parser("store", help="what the store holds, and where it came from")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    sources = store_sub.add_parser(
        "sources", parents=[common],
        help="where each stored series' candles came from (exchange endpoints, files, API)",
    )  # fmt: skip
    sources.set_defaults(func=_store_sources)
    forget = store_sub.add_parser(
        "forget", parents=[common],
        help="remove series and everything stored of them (run with the server stopped)",
    )  # fmt: skip
    forget.add_argument("--series", nargs="+", required=True, metavar="ID")
    forget.set_defaults(func=_store_forget)

    check = sub.add_parser(
        "check-store", parents=[common],
        help="read every stored candle and run SQLite's integrity check",
    )  # fmt: skip
    check.set_defaults(func=_check_store)

    backup = sub.add_parser(
        "backup", parents=[common],
        help="a consistent copy of the SQLite store, taken while the server writes",
    )  # fmt: skip
    backup.add_argument("--to", required=True, type=Path, metavar="FILE")
    backup.set_defaults(func=_backup)
    restore = sub.add_parser(
        "restore", parents=[common],
        help="check a backup and install it as the SQLite store (with the server stopped)",
    )  # fmt: skip
    restore.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE")
    restore.set_defaults(func=_restore)

    migrate = sub.add_parser(
        "migrate-store", help="copy every stored series to another store (resumable)"
    )
    migrate.add_argument("--from", dest="source", required=True, metavar="URL",
                         help="sqlite:///path or postgresql://...")  # fmt: skip
    migrate.add_argument("--to", dest="target", required=True, metavar="URL")
    migrate.set_defaults(func=_migrate_store)

    from local_exchange.venues import LOCAL_VENUES

    for venue, local in LOCAL_VENUES.items():
        first_port = local.first_port
        fake = sub.add_parser(
            f"fake-{venue}", help=f"run a local {venue.capitalize()} (REST + WebSocket)"
        )
        _log_level(fake, argparse.SUPPRESS)
        fake.add_argument("--host", default="127.0.0.1")
        fake.add_argument("--rest-port", type=int, default=first_port)
        fake.add_argument("--spot-ws-port", type=int, default=first_port + 1)
        fake.add_argument(
            "--futures-ws-port", type=int, default=first_port + 2,
            help="USDT perpetuals (Bybit's linear)",
        )  # fmt: skip
        fake.add_argument("--speed", type=float, default=1.0, help="market time per real second")
        fake.add_argument("--history-days", type=float, default=30.0)
        fake.add_argument(
            "--extra-futures-symbols", type=int, default=0,
            help="also list SYM0000USDT ... futures (for load tests)",
        )  # fmt: skip
        fake.set_defaults(func=_fake_exchange, venue=venue)
    return parser


def _log_level(parser: argparse.ArgumentParser, default: Any) -> None:
    # Accepted before and after the command (`trade-canvas serve --log-level debug`); a
    # default only where it cannot hide a value given in the other place.
    parser.add_argument(
        "--log-level", default=default, choices=["debug", "info", "warning"],
        help="default info",
    )  # fmt: skip


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trade-canvas")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.log_level = getattr(args, "log_level", "info")
    log_format = os.environ.get(LOG_FORMAT_VARIABLE, "text").strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        print(f"trade-canvas: {LOG_FORMAT_VARIABLE} is {log_format!r}; use text or json",
              file=sys.stderr)  # fmt: skip
        return 2
    args.log_format = log_format
    configure_logging(args.log_level, log_format)
    from app.diagnostics import unknown_variables

    for warning in unknown_variables(os.environ):
        log.warning("%s", warning)
    try:
        code: int = args.func(args)
    except TradeCanvasError as e:
        print(f"trade-canvas: {e}", file=sys.stderr)
        return 2
    except ValidationError as e:
        print(f"trade-canvas: invalid settings: {_settings_problems(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    return code


def _settings_problems(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = "_".join(str(p) for p in item["loc"]).upper()
        # Settings that may carry a password or token are named, never echoed.
        secret = name.startswith(("BOTS", "STORE_URL", "INGEST_TOKEN"))
        given = "" if secret else f" ({item.get('input')!r})"
        problems.append(f"TRADE_CANVAS_{name}{given}: {item['msg']}")
    return "; ".join(problems)


if __name__ == "__main__":
    sys.exit(main())
