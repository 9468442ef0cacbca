"""The composition root: builds every long-lived part from the settings, in order, and
tears them down in reverse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.history.bootstrap import BootstrapOptions, HistoryBootstrapper, HistoryMetrics
from app.history.datadir import configured_format, resolve_datadir
from app.history.download import DownloadManager, DownloadMetrics, DownloadOptions
from app.history.rest_source import RestHistorySource
from app.history.source import HistorySource
from app.hub import MarketHub
from app.ingest.rest_klines import BinanceRestKlines
from app.ingest.supervisor import IngestSupervisor, RefcountingSupervisor
from app.metrics import Metrics
from app.series import parse_series_id
from app.store import CandleStore


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


def build_history(
    settings: Settings, store: CandleStore, metrics: Metrics
) -> tuple[HistorySource | None, Path | None, DownloadManager | None]:
    if settings.market_history_source == "off":
        return None, None, None
    if settings.market_history_source == "ccxt":
        rest = BinanceRestKlines(
            spot_url=settings.binance_spot_rest_url, futures_url=settings.binance_futures_rest_url
        )
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


async def start_services(settings: Settings, metrics: Metrics) -> Services:
    whitelist = [parse_series_id(s) for s in settings.whitelist]
    store = CandleStore(settings.db_path, metrics, read_threads=settings.db_read_threads)
    await store.open()
    try:
        history, datadir, downloads = build_history(settings, store, metrics)
        supervisor = RefcountingSupervisor(
            metrics, whitelist=whitelist, max_jobs=settings.ondemand_max_jobs
        )
        hub = MarketHub(
            store,
            supervisor,
            history,
            catchup_max=settings.ws_catchup_max,
            max_subscriptions=settings.ws_max_subscriptions,
        )
        await supervisor.start()
    except BaseException:
        await store.close()
        raise
    return Services(settings, metrics, store, supervisor, hub, history, datadir, downloads)


async def stop_services(services: Services) -> None:
    try:
        await services.supervisor.stop()
        if services.history is not None:
            await services.history.stop()
        if services.downloads is not None:
            await services.downloads.stop()
    finally:
        await services.store.close()
