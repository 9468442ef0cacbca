"""What every role's composition root builds alike: the store, the venues, history, the
live ingest and its supervisor, the healer, the writer's consumers, and the readers."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Final

from app.admission import Admission
from app.bots.monitor import BotBoard
from app.bus.memory import Buses, NoBus
from app.bus.ports import Bus
from app.clock import SYSTEM_CLOCK, Clock
from app.cluster.node import ClusterNode
from app.config import Settings
from app.errors import ConfigError, InvalidSeriesId
from app.exchanges.budget import CALLER_HEADER
from app.exchanges.facade_support import FacadeMetrics
from app.exchanges.ports import FacadeContext, StreamLimits
from app.exchanges.registry import VenueRegistry
from app.exchanges.upstream import UpstreamMetrics
from app.exchanges.venues import VENUES
from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import (
    Datadirs,
    configured_exchange,
    configured_format,
    load_freqtrade_config,
    resolve_datadir,
)
from app.history.download import DownloadManager, DownloadMetrics, DownloadOptions
from app.history.follow import DatadirFollower
from app.history.rest_source import RestHistorySource
from app.history.source import HistorySource
from app.history.writethrough import DatadirWriteThrough
from app.hub import CandleWriter, Fanout
from app.hub.forming import FormingCandles
from app.hub.taps import Taps
from app.ingest.clock_watch import ClockWatch
from app.ingest.guard import KlineGuard
from app.ingest.healer import HoleHealer
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.ingest.provenance import Provenance
from app.ingest.supervisor import FeedKey, IngestSupervisor
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.ratelimit import ConnectionsPerAddress
from app.reads.query import CandleQuery, QueryOptions
from app.reads.registry import SeriesRegistry
from app.reads.streams import KlineStreams
from app.reads.subscriptions import Subscriptions
from app.series import SeriesId, parse_series_id
from app.services import Reads
from app.store import CandleStore, build_store
from app.supply.ports import SeriesSupply
from app.supply.remote import RemoteSupply
from app.tasks import spawn

log = logging.getLogger(__name__)

# A download's request may wait for history's share of the budget (two Binance minutes).
DOWNLOAD_REQUEST_TIMEOUT_S: Final = 150.0


@dataclass(frozen=True, slots=True)
class Core:
    """What every role opens first, and closes last."""

    store: CandleStore
    provenance: Provenance
    venues: VenueRegistry
    whitelist: list[SeriesId]
    # What this process's own history downloads name themselves with to its facades.
    history_token: str


async def open_core(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics, clock: Clock
) -> Core:
    whitelist = whitelist_of(settings)
    store = build_store(
        settings.store.url, settings.db.path, metrics,
        read_threads=settings.db.read_threads, pool_size=settings.store.pool_size,
    )  # fmt: skip
    await store.open()
    stack.push_async_callback(store.close)
    provenance = Provenance(store, settings.venue_identity)
    await provenance.load()
    # Lazy: no ccxt client exists until the first request that needs one.
    venues = build_venues(settings, clock, metrics)
    stack.push_async_callback(venues.close)
    return Core(store, provenance, venues, whitelist, secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class Hub:
    """This process's fan-out and the caches fed beside it, and the locks they share with
    the writer."""

    locks: SeriesLocks
    fanout: Fanout
    forming: FormingCandles
    taps: Taps
    # All three fed as one bus.
    local: Bus

    @classmethod
    def build(cls, settings: Settings, store: CandleStore, clock: Clock) -> Hub:
        locks = SeriesLocks()
        fanout = Fanout(store, locks, catchup_max=settings.ws.catchup_max)
        forming, taps = FormingCandles(clock), Taps()
        return cls(locks, fanout, forming, taps, Buses(fanout, forming, taps))


def import_writer(store: CandleStore) -> CandleWriter:
    """The writer of a process without clients (`trade-canvas import`)."""
    return CandleWriter(store, SeriesLocks(), NoBus(), SYSTEM_CLOCK)


def build_writer(
    store: CandleStore,
    locks: SeriesLocks,
    published: Bus,
    write_through: DatadirWriteThrough | None,
    clock: Clock,
) -> CandleWriter:
    consumers = published if write_through is None else Buses(published, write_through)
    return CandleWriter(store, locks, consumers, clock)


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


def whitelist_of(settings: Settings) -> list[SeriesId]:
    """`TRADE_CANVAS_WHITELIST`, else the freqtrade config's pair whitelist on its exchange,
    at its timeframe and trading mode."""
    if settings.whitelist or settings.freqtrade.config is None:
        return [parse_series_id(s) for s in settings.whitelist]
    config = load_freqtrade_config(settings.freqtrade.config)
    pairs = (config.get("exchange") or {}).get("pair_whitelist") or []
    timeframe = config.get("timeframe")
    if pairs and not timeframe:
        raise ConfigError(
            f'freqtrade config {settings.freqtrade.config} has no "timeframe": its pair '
            'whitelist needs one (add e.g. "timeframe": "5m", or set TRADE_CANVAS_WHITELIST)'
        )
    market = "futures" if config.get("trading_mode") == "futures" else "spot"
    exchange = configured_exchange(config)
    series = []
    for pair in pairs:
        try:
            series.append(parse_series_id(f"{exchange}:{market}:{pair}:{timeframe}"))
        except InvalidSeriesId as e:
            log.warning("skipping whitelist pair %s of %s: %s", pair, settings.freqtrade.config, e)
    return series


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


def build_venues(settings: Settings, clock: Clock, metrics: Metrics) -> VenueRegistry:
    upstream = UpstreamMetrics(metrics)
    return VenueRegistry([venue.build(settings, upstream, clock) for venue in VENUES])


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


def warm_catalogs(stack: AsyncExitStack, settings: Settings, core: Core) -> None:
    """Load the whitelisted series' market lists at start-up, so their ticks are listed."""
    if settings.live_ingest:
        task = spawn(core.venues.warm(core.whitelist), "market list warm-up")

        async def cancel() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        stack.push_async_callback(cancel)


def build_reads(
    settings: Settings,
    core: Core,
    supply: SeriesSupply,
    hub: Hub,
    guards: Mapping[str, KlineGuard],
    *,
    datadirs: Datadirs | None,
    datadir_write_error: Callable[[str], str | None],
    venue_lacks: Callable[[str], int],
    metrics: Metrics,
    clock: Clock,
) -> Reads:
    """The chart's reads and subscriptions and the facades, over `supply`."""
    store, venues = core.store, core.venues
    admission = Admission(
        store,
        venues,
        datadirs=datadirs,
        always_served=frozenset(str(s) for s in core.whitelist),
        starts_work=supply.has_history or settings.live_ingest,
        per_client_per_min=settings.work.requests_per_min,
        per_client_burst=settings.work.requests_burst,
        clock=clock,
        provenance=core.provenance,
    )
    query = CandleQuery(
        store, admission, supply, hub.forming, venues=venues, guards=guards, clock=clock,
        options=QueryOptions(close_wait_s=settings.live.close_grace_s),
    )  # fmt: skip
    facade_metrics = FacadeMetrics(metrics)
    ws_connections = ConnectionsPerAddress(settings.ws.max_connections_per_address)
    context = FacadeContext(
        query, KlineStreams(hub.taps, supply, admission, clock), ws_connections, clock,
        facade_metrics, settings.facade.document_refresh_s,
        StreamLimits(settings.ws.send_queue_max, settings.ws.max_message_bytes,
                     settings.ws.messages_per_s, settings.ws.message_burst,
                     settings.ws.max_subscriptions),
        core.history_token,
    )  # fmt: skip
    return Reads(
        query=query,
        subscriptions=Subscriptions(
            hub.fanout, supply, max_per_client=settings.ws.max_subscriptions
        ),
        series=SeriesRegistry(
            store,
            venues,
            supply,
            datadirs,
            [str(s) for s in core.whitelist],
            live_ingest=settings.live_ingest,
            datadir_write_error=datadir_write_error,
            venue_lacks=venue_lacks,
            provenance=core.provenance,
        ),
        admission=admission,
        ws_connections=ws_connections,
        facades={
            v.name: v.facade(context, v.catalog) for v in venues.values() if v.facade is not None
        },
        facade_metrics=facade_metrics,
    )


def open_bots(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics, clock: Clock
) -> BotBoard:
    bots = BotBoard.build(
        settings.bots, metrics, clock, poll_s=settings.bot.poll_s,
        timeout_s=settings.bot.timeout_s, max_bytes=settings.bot.max_bytes,
        max_open_trades=settings.bot.max_open_trades,
    )  # fmt: skip
    stack.push_async_callback(bots.close)
    return bots


# How long a process waits for the leader to do what it asked (a fetch, a correction).
LEADER_WORK_TIMEOUT_S: Final = 30.0


async def join_cluster(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics, hub: Hub, clock: Clock
) -> tuple[ClusterNode, RemoteSupply]:
    """Reach the bus, feed this process's clients from it (every process's commits go out
    on the bus, and each process feeds its clients from the bus alone), and ask the leader
    for what only it does."""
    node = await ClusterNode.connect(settings, metrics, clock)
    stack.push_async_callback(node.bus.close)
    demand = await node.join(hub.local, hub.locks)
    remote = RemoteSupply(
        node.bus.ask, demand, has_history=settings.market_history_source != "off",
        timeout_s=LEADER_WORK_TIMEOUT_S,
        # An import on the leader may take its whole wait before it answers.
        history_timeout_s=max(LEADER_WORK_TIMEOUT_S, settings.history.wait_s + 10),
    )  # fmt: skip
    return node, remote
