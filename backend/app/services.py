"""The composition root: builds every long-lived part from the settings, in order, and
tears them down in reverse."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from starlette.types import ASGIApp

from app.admission import Admission
from app.bots.monitor import BotBoard
from app.bus.redis import DemandBoard
from app.bus.redis.asks import Handler, LeaderAnswers, LeaderAsk
from app.clock import SYSTEM_CLOCK, Clock
from app.cluster.election import Lead
from app.cluster.leader_history import LeaderHistory
from app.cluster.leader_markets import LeaderMarkets
from app.cluster.leader_work import LeaderWork
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
from app.hub import CandleWriter, Fanout, NoBus, SeriesLocks, Subscriptions
from app.hub.bus import Bus, Buses
from app.hub.forming import FormingCandles
from app.hub.registry import SeriesRegistry
from app.hub.taps import Taps
from app.hub.writer import Corrections
from app.ingest.clock_watch import ClockWatch
from app.ingest.guard import KlineGuard
from app.ingest.healer import HoleHealer
from app.ingest.live import IngestOptions, LiveIngestor
from app.ingest.metrics import IngestMetrics
from app.ingest.port import IngestPort
from app.ingest.provenance import Provenance
from app.ingest.supervisor import FeedKey, IngestSupervisor
from app.metrics import Metrics
from app.query import CandleQuery, QueryOptions
from app.ratelimit import ConnectionsPerAddress
from app.series import SeriesId, parse_series_id
from app.store import CandleStore, build_store
from app.streams import KlineStreams
from app.tasks import spawn

log = logging.getLogger(__name__)

# How long a process waits for the leader to do what it asked (a fetch, a correction).
LEADER_WORK_TIMEOUT_S: Final = 30.0
# A download's request may wait for history's share of the budget (two Binance minutes).
DOWNLOAD_REQUEST_TIMEOUT_S: Final = 150.0


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    metrics: Metrics
    store: CandleStore
    # What the API asks of ingest: this process's supervisor, or in a cluster the
    # cluster's demand and its leader's state.
    ingest: IngestPort
    # The supervisor this process runs (None in a cluster: the leader builds its own).
    supervisor: IngestSupervisor | None
    cluster: ClusterNode | None
    writer: CandleWriter
    # Where an operator's corrections go: the writer, or in a cluster the leader's.
    corrections: Corrections
    fanout: Fanout
    subscriptions: Subscriptions
    series: SeriesRegistry
    history: HistorySource | None
    datadirs: Datadirs | None
    downloads: DownloadManager | None
    # Every venue's adapter; their REST clients (ccxt) are shared by the ccxt history
    # source and the live ingestors, and closed here last.
    venues: VenueRegistry
    admission: Admission
    # Loads the whitelisted series' market lists at start-up, so their ticks are listed.
    catalog_warmup: asyncio.Task[None] | None
    ws_connections: ConnectionsPerAddress
    # Every API's candle reads: the chart's and the exchange-compatible facades'.
    query: CandleQuery
    # Each venue's exchange-compatible API, by venue name (`/binance/...`).
    facades: Mapping[str, ASGIApp]
    facade_metrics: FacadeMetrics
    # Imports what `download-data` appends to the files of series open in a chart.
    datadir_follower: DatadirFollower | None
    # Writes closed candles into the datadir files (`DATADIR_WRITE=1`).
    write_through: DatadirWriteThrough | None
    # The user's freqtrade bots (`TRADE_CANVAS_BOTS`), read for the chart.
    bots: BotBoard
    # Fills the store's holes from the venues (a process that writes, live ingest on).
    healer: HoleHealer | None = None
    # Where each series' candles came from; series filled from another endpoint.
    provenance: Provenance | None = None


def import_writer(store: CandleStore) -> CandleWriter:
    """The writer of a process without clients (`trade-canvas import`)."""
    return CandleWriter(store, SeriesLocks(), NoBus(), SYSTEM_CLOCK)


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
    store: CandleStore,
    writer: CandleWriter,
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
            venue.name, feed, venue.rest, store, writer, metrics, options, clock
        )
        for venue in venues.values()
        for market, feed in venue.feeds.items()
    }


def build_venues(settings: Settings, clock: Clock, metrics: Metrics) -> VenueRegistry:
    upstream = UpstreamMetrics(metrics)
    return VenueRegistry([venue.build(settings, upstream, clock) for venue in VENUES])


async def start_services(
    settings: Settings, metrics: Metrics, clock: Clock = SYSTEM_CLOCK
) -> Services:
    whitelist = whitelist_of(settings)
    # What this process's own history downloads name themselves with to its facades.
    history_token = secrets.token_urlsafe(24)
    store = build_store(
        settings.store.url, settings.db.path, metrics,
        read_threads=settings.db.read_threads, pool_size=settings.store.pool_size,
    )  # fmt: skip
    await store.open()
    provenance = Provenance(store, settings.venue_identity)
    await provenance.load()
    # Lazy: no ccxt client exists until the first request that needs one.
    venues = build_venues(settings, clock, metrics)
    cluster: ClusterNode | None = None
    asked_markets: LeaderMarkets | None = None
    try:
        locks = SeriesLocks()
        fanout = Fanout(store, locks, catchup_max=settings.ws.catchup_max)
        forming = FormingCandles(clock)
        taps = Taps()
        local = Buses(fanout, forming, taps)
        write_through = None
        if settings.role != "api":
            write_through = build_write_through(settings, store, metrics, clock)
        # In a cluster this process's commits go out on the bus and its clients are fed
        # from the bus alone, as every other process's are.
        if settings.clustered:
            node = cluster = await ClusterNode.connect(settings, metrics, clock)
            asked_markets = LeaderMarkets(
                LeaderAsk(cluster.client), lambda: node.leading, timeout_s=LEADER_WORK_TIMEOUT_S
            )
            venues = asked_markets.over(venues, clock)
        published: Bus = local if cluster is None else cluster.publisher
        writer = CandleWriter(
            store, locks,
            published if write_through is None else Buses(published, write_through), clock,
        )  # fmt: skip
        history: HistorySource | None = None
        datadirs = downloads = None
        if settings.role != "api":
            history, datadirs, downloads = build_history(
                settings, store, writer, metrics, venues, clock, history_token
            )
        ingest_metrics = IngestMetrics(metrics, clock)
        guards = {
            v.name: KlineGuard(v.name, clock, settings.live.clock_skew_s,
                               ingest_metrics.frames_rejected)
            for v in venues.values()
        }  # fmt: skip

        def healer_of() -> HoleHealer:
            return HoleHealer(
                store, venues, writer, guards, clock, provenance,
                every_s=settings.live.heal_every_s, retry_s=settings.live.heal_retry_s,
            )  # fmt: skip

        # It writes: the one process's, or in a cluster the leader's while it leads.
        healer = healer_of() if cluster is None and settings.live_ingest else None

        def supervisor_of(
            notify: Callable[[str, str, str], None], history: HistorySource | None
        ) -> IngestSupervisor:
            return IngestSupervisor(
                whitelist=whitelist,
                max_jobs=settings.ondemand.max_jobs,
                max_jobs_per_holder=settings.ondemand.max_jobs_per_client,
                idle_ttl_s=settings.ondemand.idle_ttl_s,
                history=history,
                ingestors=build_ingestors(settings, venues, store, writer, ingest_metrics, clock),
                metrics=metrics,
                notify=notify,
                clock=clock,
                clock_watch=ClockWatch(
                    {v.name: (v.rest, v.markets[0]) for v in venues.values()},
                    clock,
                    max_skew_s=settings.live.clock_skew_s,
                    every_s=settings.live.clock_check_s,
                ),
                provenance=provenance,
            )

        supervisor: IngestSupervisor | None = None
        follower = None
        ingest: IngestPort
        leader_history = None  # in a cluster: the imports the leader runs
        if cluster is None:
            supervisor = ingest = supervisor_of(fanout.error, history)
            ingest_metrics.watch_heads(supervisor.heads)
        else:
            await cluster.join(settings, store, locks, local, clock)
            assert cluster.ingest is not None
            ingest = cluster.ingest
            leader_history = history
            if settings.market_history_source != "off":
                # Imports write, so a read anywhere has the leader run them.
                history = LeaderHistory(
                    LeaderAsk(cluster.client), lambda: node.leading, leader_history,
                    timeout_s=max(LEADER_WORK_TIMEOUT_S, settings.history.wait_s + 10),
                )  # fmt: skip
        subscriptions = Subscriptions(
            fanout, ingest, history, max_per_client=settings.ws.max_subscriptions
        )
        series = SeriesRegistry(
            store, venues, ingest, history, datadirs, [str(s) for s in whitelist],
            live_ingest=settings.live_ingest,
            datadir_write_error=write_through.failing if write_through else lambda _: None,
            venue_lacks=healer.venue_lacks if healer else lambda _: 0,
            provenance=provenance,
        )  # fmt: skip
        if supervisor is not None:
            await supervisor.start()
            if isinstance(history, HistoryBootstrapper):
                await history.resume_interrupted()
                follower = DatadirFollower(
                    history, fanout.followed, clock, settings.history.follow_s
                )
                follower.start()
        if write_through is not None:
            write_through.start()
        if healer is not None:
            healer.start()
    except BaseException:
        if cluster is not None:
            await cluster.stop()
        await venues.close()
        await store.close()
        raise
    admission = Admission(
        store,
        venues,
        datadirs=datadirs,
        always_served=frozenset(str(s) for s in whitelist),
        starts_work=history is not None or settings.live_ingest,
        per_client_per_min=settings.work.requests_per_min,
        per_client_burst=settings.work.requests_burst,
        clock=clock,
        provenance=provenance,
    )
    work = None
    if cluster is not None:
        work = LeaderWork(
            LeaderAsk(cluster.client), lambda: node.leading, writer, venues,
            timeout_s=LEADER_WORK_TIMEOUT_S,
        )  # fmt: skip
    query = CandleQuery(
        store, admission, history, forming, writer=writer, venues=venues, ingest=ingest,
        fill=None if work is None else work.fill,
        fetch_forming=None if work is None else work.forming,
        guards=guards, clock=clock, provenance=provenance,
        options=QueryOptions(close_wait_s=settings.live.close_grace_s),
    )  # fmt: skip
    facade_metrics = FacadeMetrics(metrics)
    ws_connections = ConnectionsPerAddress(settings.ws.max_connections_per_address)
    streams = KlineStreams(taps, ingest, admission, clock)
    context = FacadeContext(
        query, streams, ws_connections, clock, facade_metrics,
        settings.facade.document_refresh_s,
        StreamLimits(settings.ws.send_queue_max, settings.ws.max_message_bytes,
                     settings.ws.messages_per_s, settings.ws.message_burst,
                     settings.ws.max_subscriptions),
        history_token,
    )  # fmt: skip
    facades = {
        v.name: v.facade(context, v.catalog) for v in venues.values() if v.facade is not None
    }
    if cluster is not None and work is not None and asked_markets is not None:
        work.query = query
        handlers = {**work.handlers(), **asked_markets.handlers()}
        if isinstance(history, LeaderHistory):
            handlers.update(history.handlers())
        lead = _leader_parts(
            cluster, settings, supervisor_of, leader_history, handlers, ingest_metrics, clock,
            healer_of if settings.live_ingest else None,
        )  # fmt: skip
        cluster.compete(settings, store, lead, clock)
    return Services(
        settings,
        clock,
        metrics,
        store,
        ingest,
        supervisor,
        cluster,
        writer,
        writer if work is None else work,
        fanout,
        subscriptions,
        series,
        history,
        datadirs,
        downloads,
        venues,
        admission,
        spawn(venues.warm(whitelist), "market list warm-up") if settings.live_ingest else None,
        ws_connections,
        query,
        facades,
        facade_metrics,
        follower,
        write_through,
        BotBoard.build(
            settings.bots, metrics, clock, poll_s=settings.bot.poll_s,
            timeout_s=settings.bot.timeout_s, max_bytes=settings.bot.max_bytes,
            max_open_trades=settings.bot.max_open_trades,
        ),
        healer,
        provenance,
    )  # fmt: skip


def _leader_parts(
    cluster: ClusterNode,
    settings: Settings,
    supervisor_of: Callable[
        [Callable[[str, str, str], None], HistorySource | None], IngestSupervisor
    ],
    history: HistorySource | None,
    handlers: Mapping[str, Handler],
    ingest_metrics: IngestMetrics,
    clock: Clock,
    healer_of: Callable[[], HoleHealer] | None,
) -> Lead:
    """What runs while this process leads: a supervisor of its own holding what the
    cluster asks for, its history imports, and the work other processes ask of it (`LeaderWork`)."""
    leading: list[IngestSupervisor] = []
    ingest_metrics.watch_heads(lambda: leading[0].heads() if leading else {})

    async def lead(epoch: int) -> Callable[[], Awaitable[None]]:
        supervisor = supervisor_of(cluster.publisher.error, history)
        board = DemandBoard(
            cluster.client, supervisor, cluster.publisher, clock, node=cluster.name,
            epoch=epoch, state_ttl_s=settings.leader.ttl_s,
        )  # fmt: skip
        answers = LeaderAnswers(cluster.client, handlers, clock)
        await supervisor.start()
        follower = None
        if isinstance(history, HistoryBootstrapper):
            await history.resume_interrupted()
            # The series open in a chart anywhere in the cluster are the ones it holds.
            follower = DatadirFollower(
                history, supervisor.held_series, clock, settings.history.follow_s
            )
            follower.start()
        board.start()
        answers.start()
        healer = healer_of() if healer_of is not None else None
        if healer is not None:
            healer.start()
        leading[:] = [supervisor]

        async def stop() -> None:
            leading.clear()
            if healer is not None:
                await healer.stop()
            await answers.stop()
            if follower is not None:
                await follower.stop()
            await board.stop()
            await supervisor.stop()
            if history is not None:
                await history.stop()  # its imports write: only a leader's may run

        return stop

    return lead


async def stop_services(services: Services) -> None:
    try:
        if services.catalog_warmup is not None:
            services.catalog_warmup.cancel()
            await asyncio.gather(services.catalog_warmup, return_exceptions=True)
        if services.datadir_follower is not None:
            await services.datadir_follower.stop()
        if services.cluster is not None:
            await services.cluster.stop()
        if services.healer is not None:
            await services.healer.stop()
        if services.supervisor is not None:
            await services.supervisor.stop()
        if services.write_through is not None:
            await services.write_through.stop()  # after the feeds: their last closes too
        if services.history is not None:
            await services.history.stop()
        if services.downloads is not None:
            await services.downloads.stop()
    finally:
        await services.bots.close()
        await services.venues.close()
        await services.store.close()
