"""FastAPI dependencies: the only way routes reach settings and services. Each route asks
for the narrow service it uses, so a test can override just that one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.admission import Admission
from app.bots.monitor import BotBoard
from app.clock import Clock
from app.config import Settings
from app.exchanges.registry import VenueRegistry
from app.metrics import Metrics
from app.ratelimit import ConnectionsPerAddress
from app.reads.query import CandleQuery
from app.reads.registry import SeriesRegistry
from app.reads.subscriptions import Subscriptions
from app.services import Services
from app.store import CandleStore
from app.supply.ports import SeriesSupply


def get_services(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


def get_settings(conn: HTTPConnection) -> Settings:
    settings: Settings = conn.app.state.settings
    return settings


ServicesDep = Annotated[Services, Depends(get_services)]


def get_store(services: ServicesDep) -> CandleStore:
    return services.store


def get_supply(services: ServicesDep) -> SeriesSupply:
    return services.supply


def get_series_registry(services: ServicesDep) -> SeriesRegistry:
    return services.reads.series


def get_admission(services: ServicesDep) -> Admission:
    return services.reads.admission


def get_clock(services: ServicesDep) -> Clock:
    return services.clock


def get_metrics(services: ServicesDep) -> Metrics:
    return services.metrics


def get_subscriptions(services: ServicesDep) -> Subscriptions:
    return services.reads.subscriptions


def get_venues(services: ServicesDep) -> VenueRegistry:
    return services.venues


def get_query(services: ServicesDep) -> CandleQuery:
    return services.reads.query


def get_ws_connections(services: ServicesDep) -> ConnectionsPerAddress:
    return services.reads.ws_connections


def get_bots(services: ServicesDep) -> BotBoard:
    return services.bots


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[CandleStore, Depends(get_store)]
SupplyDep = Annotated[SeriesSupply, Depends(get_supply)]
SeriesRegistryDep = Annotated[SeriesRegistry, Depends(get_series_registry)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
ClockDep = Annotated[Clock, Depends(get_clock)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SubscriptionsDep = Annotated[Subscriptions, Depends(get_subscriptions)]
VenuesDep = Annotated[VenueRegistry, Depends(get_venues)]
QueryDep = Annotated[CandleQuery, Depends(get_query)]
BotsDep = Annotated[BotBoard, Depends(get_bots)]
WsConnectionsDep = Annotated[ConnectionsPerAddress, Depends(get_ws_connections)]


def client_address(conn: HTTPConnection) -> str:
    """Who is asking, for per-client budgets."""
    return conn.client.host if conn.client is not None else "unknown"
