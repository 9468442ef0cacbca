"""The composition roots: one per role, each building its process's parts from the
settings in order and handing back what stops them in the reverse order."""

from __future__ import annotations

from app.clock import Clock
from app.config import Settings
from app.metrics import Metrics
from app.roots.api import start_api
from app.roots.ingest import start_ingest
from app.roots.single import start_single
from app.services import Services


async def start_services(settings: Settings, metrics: Metrics, clock: Clock) -> Services:
    """A server alone (no bus), or in a cluster an `api` process or one that may lead
    ingest (`ingest`, `all`)."""
    if not settings.clustered:
        return await start_single(settings, metrics, clock)
    if settings.role == "api":
        return await start_api(settings, metrics, clock)
    return await start_ingest(settings, metrics, clock)
