"""The composition root: builds every long-lived part from the settings, in order, and
tears them down in reverse."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.admission import Admission
from app.config import Settings
from app.errors import InvalidSeriesId
from app.exchanges.binance.rest import BinanceRestKlines
from app.exchanges.catalog import CachedCatalog
from app.exchanges.ports import SymbolInfo
from app.exchanges.registry import Venue, VenueRegistry
from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import configured_format, load_freqtrade_config, resolve_datadir
from app.history.download import DownloadManager, DownloadMetrics, DownloadOptions
from app.history.rest_source import RestHistorySource
from app.history.source import HistorySource
from app.hub import MarketHub
from app.ingest.binance_ws import BinanceWsIngestor, IngestOptions
from app.ingest.metrics import IngestMetrics
from app.ingest.supervisor import IngestSupervisor
from app.metrics import Metrics
from app.series import TIMEFRAMES, Market, SeriesId, parse_series_id
from app.store import CandleStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    store: CandleStore
    supervisor: IngestSupervisor
    hub: MarketHub
    history: HistorySource | None
    datadir: Path | None
    downloads: DownloadManager | None
    # The one exchange REST client (ccxt), shared by the ccxt history source and the live
    # ingestors, and closed here last.
    rest: BinanceRestKlines
    admission: Admission
    venues: VenueRegistry


def build_history(
    settings: Settings, store: CandleStore, metrics: Metrics, rest: BinanceRestKlines
) -> tuple[HistorySource | None, Path | None, DownloadManager | None]:
    if settings.market_history_source == "off":
        return None, None, None
    if settings.market_history_source == "ccxt":
        source = RestHistorySource(
            store,
            rest,
            days=settings.history_download_days,
            wait_s=settings.history_wait_s,
            recheck_s=settings.history_recheck_s,
        )
        return source, None, None
    datadir = resolve_datadir(settings.freqtrade_datadir, settings.freqtrade_config)
    data_format = settings.history_data_format or configured_format(settings.freqtrade_config)
    downloads = None
    if settings.history_download:
        downloads = DownloadManager(
            DownloadOptions(
                datadir=datadir,
                days=settings.history_download_days,
                data_format=data_format or "feather",
                timeout_s=settings.history_download_timeout_s,
                cooldown_s=settings.history_download_cooldown_s,
                max_concurrent=settings.history_download_max_concurrent,
                config=settings.history_download_config,
                spot_rest_url=settings.binance_spot_rest_url,
                futures_rest_url=settings.binance_futures_rest_url,
            ),
            DownloadMetrics(metrics),
        )
    bootstrapper = HistoryBootstrapper(
        store,
        BootstrapOptions(
            datadir=datadir,
            preferred_format=data_format,
            batch_size=settings.history_batch_size,
            recheck_s=settings.history_recheck_s,
            wait_s=settings.history_wait_s,
            min_candles=settings.history_min_candles,
        ),
        HistoryMetrics(metrics),
        downloads,
    )
    return bootstrapper, datadir, downloads


def whitelist_of(settings: Settings) -> list[SeriesId]:
    """`TRADE_CANVAS_WHITELIST`, else the freqtrade config's pair whitelist at its timeframe
    and trading mode."""
    if settings.whitelist or settings.freqtrade_config is None:
        return [parse_series_id(s) for s in settings.whitelist]
    config = load_freqtrade_config(settings.freqtrade_config)
    pairs = (config.get("exchange") or {}).get("pair_whitelist") or []
    timeframe = config.get("timeframe")
    market = "futures" if config.get("trading_mode") == "futures" else "spot"
    series = []
    for pair in pairs:
        try:
            series.append(parse_series_id(f"binance:{market}:{pair}:{timeframe}"))
        except InvalidSeriesId as e:
            log.warning("skipping whitelist pair %s of %s: %s", pair, settings.freqtrade_config, e)
    return series


def build_ingestors(
    settings: Settings,
    store: CandleStore,
    hub: MarketHub,
    metrics: IngestMetrics,
    rest: BinanceRestKlines,
) -> dict[Market, BinanceWsIngestor]:
    if not settings.live_ingest:
        return {}
    ingestors: dict[Market, BinanceWsIngestor] = {}
    # Binance allows 5 (spot) and 10 (futures) incoming messages a second; stay under.
    markets: tuple[tuple[Market, str, float], ...] = (
        ("spot", settings.binance_spot_ws_url, 4.0),
        ("futures", settings.binance_futures_ws_url, 8.0),
    )
    for market, url, requests_per_s in markets:
        options = IngestOptions(
            batch_max=settings.binance_ws_batch_max,
            flush_s=settings.binance_ws_flush_s,
            stale_s=settings.binance_ws_stale_s,
            close_grace_s=settings.binance_ws_close_grace_s,
            max_connection_age_s=settings.binance_ws_max_connection_age_s,
            backoff_max_s=settings.binance_ws_backoff_max_s,
            requests_per_s=requests_per_s,
            backfill_max_candles=settings.binance_backfill_max_candles,
            streams_per_connection=settings.binance_ws_streams_per_connection,
        )
        ingestors[market] = BinanceWsIngestor(market, url, rest, store, hub, metrics, options)
    return ingestors


def build_venues(rest: BinanceRestKlines) -> VenueRegistry:
    async def binance_markets(market: Market, reload: bool) -> dict[str, SymbolInfo]:
        return await rest.markets(market, reload=reload)

    binance = Venue(
        "binance", ("spot", "futures"), TIMEFRAMES, CachedCatalog("binance", binance_markets)
    )
    return VenueRegistry([binance])


async def start_services(settings: Settings, metrics: Metrics) -> Services:
    whitelist = whitelist_of(settings)
    store = CandleStore(settings.db_path, metrics, read_threads=settings.db_read_threads)
    await store.open()
    # Lazy: no ccxt client exists until the first request that needs one.
    rest = BinanceRestKlines(
        spot_url=settings.binance_spot_rest_url, futures_url=settings.binance_futures_rest_url
    )
    try:
        history, datadir, downloads = build_history(settings, store, metrics, rest)
        hub = MarketHub(
            store,
            history,
            catchup_max=settings.ws_catchup_max,
            max_subscriptions=settings.ws_max_subscriptions,
        )
        ingest_metrics = IngestMetrics(metrics)
        supervisor = IngestSupervisor(
            whitelist=whitelist,
            max_jobs=settings.ondemand_max_jobs,
            idle_ttl_s=settings.ondemand_idle_ttl_s,
            history=history,
            ingestors=build_ingestors(settings, store, hub, ingest_metrics, rest),
            metrics=metrics,
            notify=hub.notify_error,
        )
        ingest_metrics.watch_heads(supervisor.heads)
        hub.use_supervisor(supervisor)
        await supervisor.start()
        if isinstance(history, HistoryBootstrapper):
            await history.resume_interrupted()
    except BaseException:
        await rest.close()
        await store.close()
        raise
    venues = build_venues(rest)
    admission = Admission(
        store,
        venues,
        datadir=datadir,
        always_served=frozenset(str(s) for s in whitelist),
        starts_work=history is not None or settings.live_ingest,
        per_client_per_min=settings.work_requests_per_min,
        per_client_burst=settings.work_requests_burst,
    )
    return Services(
        settings,
        metrics,
        store,
        supervisor,
        hub,
        history,
        datadir,
        downloads,
        rest,
        admission,
        venues,
    )


async def stop_services(services: Services) -> None:
    try:
        await services.supervisor.stop()
        if services.history is not None:
            await services.history.stop()
        if services.downloads is not None:
            await services.downloads.stop()
    finally:
        await services.rest.close()
        await services.store.close()
