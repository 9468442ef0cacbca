"""The composition root: builds every long-lived part from the settings, in order, and
tears them down in reverse."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.hub import MarketHub
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


async def start_services(settings: Settings, metrics: Metrics) -> Services:
    whitelist = [parse_series_id(s) for s in settings.whitelist]
    store = CandleStore(settings.db_path, metrics, read_threads=settings.db_read_threads)
    await store.open()
    supervisor = RefcountingSupervisor(
        metrics, whitelist=whitelist, max_jobs=settings.ondemand_max_jobs
    )
    hub = MarketHub(
        store,
        supervisor,
        catchup_max=settings.ws_catchup_max,
        max_subscriptions=settings.ws_max_subscriptions,
    )
    try:
        await supervisor.start()
    except BaseException:
        await store.close()
        raise
    return Services(settings, metrics, store, supervisor, hub)


async def stop_services(services: Services) -> None:
    try:
        await services.supervisor.stop()
    finally:
        await services.store.close()
