"""FastAPI dependencies: the only way routes reach settings and services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.config import Settings
from app.exchanges.registry import VenueRegistry
from app.hub import MarketHub
from app.services import Services
from app.store import CandleStore


def get_services(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


def get_settings(conn: HTTPConnection) -> Settings:
    settings: Settings = conn.app.state.settings
    return settings


def get_store(services: Annotated[Services, Depends(get_services)]) -> CandleStore:
    return services.store


def get_hub(services: Annotated[Services, Depends(get_services)]) -> MarketHub:
    return services.hub


def get_venues(services: Annotated[Services, Depends(get_services)]) -> VenueRegistry:
    return services.venues


ServicesDep = Annotated[Services, Depends(get_services)]
VenuesDep = Annotated[VenueRegistry, Depends(get_venues)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[CandleStore, Depends(get_store)]
HubDep = Annotated[MarketHub, Depends(get_hub)]


def client_address(conn: HTTPConnection) -> str:
    """Who is asking, for per-client budgets."""
    return conn.client.host if conn.client is not None else "unknown"
