"""What a process that writes builds: the writer, history on demand, the datadir write-through,
live ingest and its supervisor, the healer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Final

from app.bus.memory import NoBus
from app.bus.ports import Bus
from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.exchanges.budget import CALLER_HEADER
from app.exchanges.registry import VenueRegistry
from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import Datadirs, configured_format, resolve_datadir
from app.history.download import DownloadManager, DownloadMetrics, DownloadOptions
from app.history.follow import DatadirFollower
from app.history.rest_source import RestHistorySource
from app.history.source import HistorySource
from app.history.writethrough import DatadirWriteThrough
from app.hub import CandleWriter
from app.ingest.clock_watch import ClockWatch
from app.ingest.companions import CompanionKeeper
from app.ingest.guard import KlineGuard
from app.ingest.healer import HoleHealer
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.ingest.supervisor import FeedKey, IngestSupervisor
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.roots.core import Core, Hub
from app.store import CandleStore
from app.supply.fill import VenueFill

# A download's request may wait for history's share of the budget (two Binance minutes).
DOWNLOAD_REQUEST_TIMEOUT_S: Final = 150.0


def import_writer(store: CandleStore) -> CandleWriter:
    """The writer of a process without clients (`trade-canvas import`)."""
    return CandleWriter(store, SeriesLocks(), NoBus(), SYSTEM_CLOCK)


def build_writer(
    store: CandleStore,
    locks: SeriesLocks,
    published: Bus,
    write_through: DatadirWriteThrough | None,
    metrics: Metrics,
    clock: Clock,
) -> CandleWriter:
    return CandleWriter(store, locks, published, clock, metrics, archive=write_through)


def build_history(
    settings: Settings,
    store: CandleStore,
    writer: CandleWriter,
    metrics: Metrics,
    venues: VenueRegistry,
    clock: Clock,
    history_token: str,
) -> tuple[HistorySource | None, Datadirs | None, DownloadManager | None]:
    if settings.market_history_source == "off":
        return None, None, None
    if settings.market_history_source == "ccxt":
        source = RestHistorySource(
            store,
            writer,
            venues,
            days=settings.history.download_days,
            wait_s=settings.history.wait_s,
            recheck_s=settings.history.recheck_s,
            clock=clock,
        )
        return source, None, None
    datadirs = resolve_datadir(settings.freqtrade.datadir, settings.freqtrade.config)
    data_format = settings.history.data_format or configured_format(settings.freqtrade.config)
    downloads = None
    if settings.history.download:
        downloads = DownloadManager(
            DownloadOptions(
                datadirs=datadirs,
                days=settings.history.download_days,
                data_format=data_format or "feather",
                timeout_s=settings.history.download_timeout_s,
                cooldown_s=settings.history.download_cooldown_s,
                max_concurrent=settings.history.download_max_concurrent,
                config=settings.history.download_config,
                # Through this server's own facades: a download's requests are history's
                # within each venue's budget, never beside it.
                custom_api_urls={
                    v.name: v.api_urls(f"{own_url(settings)}/{v.name}")
                    for v in venues.values()
                    if v.facade is not None
                },
                ccxt_futures_types={v.name: v.ccxt_futures_type for v in venues.values()},
                headers={CALLER_HEADER: history_token},
                request_timeout_s=DOWNLOAD_REQUEST_TIMEOUT_S,
            ),
            DownloadMetrics(metrics),
            clock,
        )
    bootstrapper = HistoryBootstrapper(
        store,
        writer,
        BootstrapOptions(
            datadirs=datadirs,
            preferred_format=data_format,
            batch_size=settings.history.batch_size,
            recheck_s=settings.history.recheck_s,
            wait_s=settings.history.wait_s,
            min_candles=settings.history.min_candles,
        ),
        HistoryMetrics(metrics),
        downloads,
        clock,
    )
    return bootstrapper, datadirs, downloads


def own_url(settings: Settings) -> str:
    """Where this process serves HTTP, as a client on this machine reaches it."""
    host = settings.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def build_write_through(
    settings: Settings, store: CandleStore, metrics: Metrics, clock: Clock
) -> DatadirWriteThrough | None:
    if not settings.datadir.write:
        return None
    return DatadirWriteThrough(
        store,
        resolve_datadir(settings.freqtrade.datadir, settings.freqtrade.config),
        settings.history.data_format or configured_format(settings.freqtrade.config) or "feather",
        metrics,
        clock,
        settings.datadir.write_every_s,
    )


@dataclass(frozen=True, slots=True)
class Writing:
    """What a process that writes has: the writer (its commits published, and written
    through to the datadir), history on demand, and what checks the venues' candles."""

    writer: CandleWriter
    write_through: DatadirWriteThrough | None
    history: HistorySource | None
    datadirs: Datadirs | None
    downloads: DownloadManager | None
    ingest_metrics: IngestMetrics
    guards: dict[str, KlineGuard]

    @classmethod
    def open(
        cls,
        stack: AsyncExitStack,
        settings: Settings,
        core: Core,
        hub: Hub,
        published: Bus,
        metrics: Metrics,
        clock: Clock,
    ) -> Writing:
        store, venues = core.store, core.venues
        write_through = build_write_through(settings, store, metrics, clock)
        writer = build_writer(store, hub.locks, published, write_through, metrics, clock)
        history, datadirs, downloads = build_history(
            settings, store, writer, metrics, venues, clock, core.history_token
        )
        for part in (downloads, history):
            if part is not None:
                stack.push_async_callback(part.stop)
        ingest_metrics = IngestMetrics(metrics, clock)
        guards = build_guards(settings, venues, ingest_metrics, clock)
        return cls(writer, write_through, history, datadirs, downloads, ingest_metrics, guards)

    def fill(self, core: Core, clock: Clock) -> VenueFill:
        """A reader's fetch of what the store lacks, stored through this writer."""
        return VenueFill(core.store, core.venues, self.writer, self.guards, core.provenance, clock)

    def datadir_write_error(self, series_id: str) -> str | None:
        return None if self.write_through is None else self.write_through.failing(series_id)

    def start_write_through(self, stack: AsyncExitStack) -> None:
        if self.write_through is not None:
            self.write_through.start()
            stack.push_async_callback(self.write_through.stop)  # after the feeds' last closes


def build_ingestors(
    settings: Settings,
    venues: VenueRegistry,
    writer: CandleWriter,
    published: Bus,
    metrics: IngestMetrics,
    clock: Clock,
) -> dict[FeedKey, LiveIngestor]:
    if not settings.live_ingest:
        return {}
    options = IngestOptions(
        batch_max=settings.live.batch_max,
        flush_s=settings.live.flush_s,
        stale_s=settings.live.stale_s,
        close_grace_s=settings.live.close_grace_s,
        backoff_max_s=settings.live.backoff_max_s,
        backfill_max_candles=settings.live.backfill_max_candles,
        backfill_retry_max_s=settings.live.backfill_retry_max_s,
        max_clock_skew_s=settings.live.clock_skew_s,
    )
    return {
        (venue.name, market): LiveIngestor(
            venue.name, feed, venue.rest, writer, published, metrics, options, clock
        )
        for venue in venues.values()
        for market, feed in venue.feeds.items()
    }


def build_guards(
    settings: Settings, venues: VenueRegistry, metrics: IngestMetrics, clock: Clock
) -> dict[str, KlineGuard]:
    return {
        v.name: KlineGuard(v.name, clock, settings.live.clock_skew_s, metrics.frames_rejected)
        for v in venues.values()
    }


def build_supervisor(
    settings: Settings,
    core: Core,
    writer: CandleWriter,
    published: Bus,
    metrics: IngestMetrics,
    history: HistorySource | None,
    registry: Metrics,
    clock: Clock,
) -> IngestSupervisor:
    """`published`: where the feeds' forming candles and the series' errors go (the bus;
    their closes go through `writer`)."""
    venues = core.venues
    return IngestSupervisor(
        whitelist=core.whitelist,
        max_jobs=settings.ondemand.max_jobs,
        max_jobs_per_holder=settings.ondemand.max_jobs_per_client,
        idle_ttl_s=settings.ondemand.idle_ttl_s,
        history=history,
        ingestors=build_ingestors(settings, venues, writer, published, metrics, clock),
        metrics=registry,
        notify=published.error,
        clock=clock,
        clock_watch=ClockWatch(
            {v.name: (v.rest, v.markets[0]) for v in venues.values()},
            clock,
            max_skew_s=settings.live.clock_skew_s,
            every_s=settings.live.clock_check_s,
        ),
        provenance=core.provenance,
    )


def build_healer(
    settings: Settings,
    core: Core,
    writer: CandleWriter,
    guards: Mapping[str, KlineGuard],
    clock: Clock,
) -> HoleHealer:
    return HoleHealer(
        core.store, core.venues, writer, guards, clock, core.provenance,
        every_s=settings.live.heal_every_s, retry_s=settings.live.heal_retry_s,
    )  # fmt: skip


def start_companions(
    stack: AsyncExitStack, settings: Settings, core: Core, fill: VenueFill, clock: Clock
) -> None:
    """Keep each stored futures contract's mark price and funding rate current, through
    the readers' `fill` (one memory of what was asked)."""
    if not (settings.live_ingest and settings.live.companions):
        return
    keeper = CompanionKeeper(
        core.store, core.venues, fill, clock, every_s=settings.live.companions_every_s
    )
    keeper.start()
    stack.push_async_callback(keeper.stop)


async def start_history_follow(
    stack: AsyncExitStack,
    settings: Settings,
    history: HistorySource | None,
    followed: Callable[[], list[str]],
    clock: Clock,
) -> None:
    """Resume the imports a stop interrupted, and import what `download-data` appends to
    the files of the `followed` series."""
    if isinstance(history, HistoryBootstrapper):
        await history.resume_interrupted()
        follower = DatadirFollower(history, followed, clock, settings.history.follow_s)
        follower.start()
        stack.push_async_callback(follower.stop)
