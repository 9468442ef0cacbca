"""Running the real `freqtrade download-data` for a series the datadir lacks.

Per series at most one download runs; whoever asks while it runs shares it. After each run,
successful or not, the series is in cooldown: asking again starts nothing until it ends. A
global semaphore bounds concurrent downloads and a timeout kills a hung one (its whole
process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from prometheus_client import Counter, Gauge

from app.bounded import forget_oldest_idle
from app.clock import SYSTEM_CLOCK, Clock
from app.history.datadir import Datadirs, DataFormat
from app.metrics import Metrics
from app.series import SeriesId
from app.tasks import KeyedTasks

log = logging.getLogger(__name__)

Result = Literal["ok", "failed", "timeout"]

# Downloads that may wait for a slot, per slot; more requests are turned away at once.
MAX_QUEUED_PER_SLOT: Final = 4
# Series whose download state is remembered (cooldowns, last results).
MAX_TRACKED: Final = 4_096
# How much lower than the server's a download's CPU priority is (nice).
DOWNLOAD_NICENESS: Final = 10


@dataclass(frozen=True, slots=True)
class DownloadOptions:
    datadirs: Datadirs
    days: float
    data_format: DataFormat
    timeout_s: float
    cooldown_s: float
    max_concurrent: int
    # A freqtrade config to run with, as is; without one, a minimal config is written that
    # points ccxt at the series' venue: at `custom_api_urls[exchange]` (ccxt's `urls.api`:
    # this server's facade, so every request a download makes passes the venue's budget
    # as history) when given, with no bulk-download site; else at the venue itself.
    config: Path | None
    custom_api_urls: Mapping[str, Mapping[str, str]]
    # ccxt's market type of each venue's `futures` (`linear`, OKX's `swap`).
    ccxt_futures_types: Mapping[str, str] = field(default_factory=dict)
    # Sent with each of a download's requests (how the facade knows it is history's).
    headers: Mapping[str, str] = field(default_factory=dict)
    # ccxt's timeout of one request: the facade may hold one until history's budget has
    # room (two of the venue's windows at most).
    request_timeout_s: float = 10.0
    freqtrade_command: tuple[str, ...] = (sys.executable, "-m", "freqtrade")


@dataclass(slots=True)
class _SeriesDownload:
    running: bool = False
    runs: int = 0
    last_result: Result | None = None
    last_error: str | None = None
    last_finished: float | None = None  # wall clock, for display
    next_allowed_mono: float = 0.0
    next_allowed_wall: float | None = None


class DownloadMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.runs = Counter(
            "trade_canvas_history_downloads",
            "freqtrade download-data runs by result.",
            ["result"],
            registry=metrics.registry,
        )
        self.running = Gauge(
            "trade_canvas_history_downloads_running",
            "freqtrade download-data processes running now.",
            registry=metrics.registry,
        )
        self.skipped = Counter(
            "trade_canvas_history_download_requests_skipped",
            "Download requests that started nothing (joined a running one or in cooldown).",
            ["why"],
            registry=metrics.registry,
        )


class DownloadManager:
    def __init__(
        self, options: DownloadOptions, metrics: DownloadMetrics, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._options = options
        self._clock = clock
        self._running: KeyedTasks[str, Result] = KeyedTasks("download-data")
        self._metrics = metrics
        self._semaphore = asyncio.Semaphore(options.max_concurrent)
        self._series: dict[str, _SeriesDownload] = {}
        self._started = 0  # downloads running or waiting for a slot

    async def request(self, series: SeriesId) -> Result | None:
        """Download `series` unless one is running (then wait for it), it is in cooldown
        or too many downloads wait for a slot already (then return None at once)."""
        key = str(series)
        state = self._series.get(key)
        running = self._running.get(key)
        if running is not None:
            self._metrics.skipped.labels("joined").inc()
            return await asyncio.shield(running)
        if state is not None and self._clock.monotonic() < state.next_allowed_mono:
            self._metrics.skipped.labels("cooldown").inc()
            return None
        if self._started >= self._options.max_concurrent * (1 + MAX_QUEUED_PER_SLOT):
            self._metrics.skipped.labels("queue_full").inc()
            return None
        if state is None:
            # Entries whose cooldown is over would download again anyway.
            now = self._clock.monotonic()
            forget_oldest_idle(
                self._series,
                lambda _, s: not s.running and s.next_allowed_mono <= now,
                MAX_TRACKED,
            )
            state = self._series[key] = _SeriesDownload()
        state.running = True
        return await asyncio.shield(self._running.start(key, self._run(series, state)))

    async def _run(self, series: SeriesId, state: _SeriesDownload) -> Result:
        self._started += 1
        try:
            async with self._semaphore:
                self._metrics.running.inc()
                try:
                    result, error = await self._download(series)
                finally:
                    self._metrics.running.dec()
        except asyncio.CancelledError:
            result, error = "failed", "cancelled"
            raise
        finally:
            self._started -= 1
            state.running = False
            state.runs += 1
            state.last_result, state.last_error = result, error
            state.last_finished = self._clock.time()
            state.next_allowed_mono = self._clock.monotonic() + self._options.cooldown_s
            state.next_allowed_wall = state.last_finished + self._options.cooldown_s
            self._metrics.runs.labels(result).inc()
        log.info("download-data %s: %s%s", series, result, f" ({error})" if error else "")
        return result

    async def _download(self, series: SeriesId) -> tuple[Result, str | None]:
        opts = self._options
        datadir = opts.datadirs.of(series.exchange)
        workdir = Path(tempfile.mkdtemp(prefix="trade-canvas-download-"))
        try:
            config = opts.config or self._write_config(workdir, series)
            (workdir / "user_data").mkdir()
            command = [
                *opts.freqtrade_command,
                "download-data",
                "--config", str(config),
                "--userdir", str(workdir / "user_data"),
                "--datadir", str(datadir),
                "--pairs", series.symbol,
                "--timeframes", series.timeframe,
                "--trading-mode", series.instrument_market,
                "--candle-types", series.market,
                "--days", f"{opts.days:g}",
                "--data-format-ohlcv", opts.data_format,
            ]  # fmt: skip
            datadir.mkdir(parents=True, exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed whole on timeout
            )
            _lower_priority(proc.pid)
            try:
                output, _ = await asyncio.wait_for(proc.communicate(), opts.timeout_s)
            except TimeoutError:
                _kill_group(proc)
                await proc.wait()
                return "timeout", f"download-data did not finish in {opts.timeout_s:g}s"
            except asyncio.CancelledError:
                _kill_group(proc)
                await proc.wait()  # reap it: its transport must not outlive the loop
                raise
            lines = output.decode(errors="replace").strip().splitlines()
            if proc.returncode != 0:
                return "failed", f"exit {proc.returncode}: {' | '.join(lines[-3:])}"[:500]
            # freqtrade exits 0 on configuration errors (its main() leaves the code unset
            # for them), so an ERROR line from this single-pair run counts as failure.
            errors = [line for line in lines if " - ERROR - " in line]
            if errors:
                return "failed", f"exit 0 with errors: {errors[0].split(' - ERROR - ')[-1]}"[:500]
            return "ok", None
        except OSError as e:
            return "failed", f"cannot run freqtrade: {e}"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _ccxt_market_type(self, series: SeriesId) -> str:
        if series.instrument_market == "spot":
            return "spot"
        return self._options.ccxt_futures_types.get(series.exchange, "linear")

    def _write_config(self, workdir: Path, series: SeriesId) -> Path:
        ccxt: dict[str, Any] = {
            "options": {"fetchMarkets": {"types": [self._ccxt_market_type(series)]}}
        }
        urls = self._options.custom_api_urls.get(series.exchange)
        if urls is not None:
            ccxt["urls"] = {"api": dict(urls)}
            ccxt["headers"] = dict(self._options.headers)
            ccxt["timeout"] = int(self._options.request_timeout_s * 1000)
        config = {
            "exchange": {
                "name": series.exchange,
                "key": "",
                "secret": "",
                "ccxt_config": ccxt,
                "ccxt_async_config": {},
                # A custom REST URL is a stand-in exchange: it has no bulk-download site.
                "only_from_ccxt": urls is not None,
                "pair_whitelist": [],
            },
            "stake_currency": series.quote,
            "dry_run": True,
            "trading_mode": series.instrument_market,
            "margin_mode": "isolated" if series.instrument_market == "futures" else "",
        }
        path = workdir / "download-config.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def last_error(self, series: SeriesId) -> str | None:
        """Why the last download of `series` failed (None: it did not, or never ran)."""
        state = self._series.get(str(series))
        return state.last_error if state is not None else None

    def state(self) -> dict[str, Any]:
        return {
            series_id: {
                "running": s.running,
                "runs": s.runs,
                "last_result": s.last_result,
                "last_error": s.last_error,
                "last_finished": s.last_finished,
                "next_allowed_at": s.next_allowed_wall,
            }
            for series_id, s in sorted(self._series.items())
        }

    async def stop(self) -> None:
        await self._running.cancel_all()


def _lower_priority(pid: int) -> None:
    """A download is background work: it yields the CPU to the server's answers (a fleet's
    cold start runs several beside a thousand first requests)."""
    with contextlib.suppress(OSError, AttributeError):  # gone already, or not on POSIX
        os.setpriority(os.PRIO_PROCESS, pid, DOWNLOAD_NICENESS)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
