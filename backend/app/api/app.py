"""The app factory. Settings are built once here (or handed in by tests) and everything
else is built from them in the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api import bots, market, ops, ws
from app.api.errors import install_error_handlers
from app.api.facades import FacadeMount
from app.api.frontend import default_frontend_dir, mount_frontend
from app.api.guards import AllowedHosts, AllowedOrigins, default_allowed_hosts
from app.api.middleware import RequestContextMiddleware
from app.api.openapi import install_openapi
from app.api.state_metrics import StateCollector
from app.clock import SYSTEM_CLOCK, Clock
from app.config import Settings
from app.metrics import Metrics
from app.roots import start_services
from app.series import venue_names
from app.services import stop_services

FULL_GC_EVERY = 100


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """`clock` is the time every part of the server reads (tests hand in one they move)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await start_services(settings, metrics, clock)
        app.state.services = services
        state = StateCollector(services)
        metrics.registry.register(state)
        # Everything built so far lives as long as the server: keep the collector from
        # rescanning it on every full collection (those scans were latency spikes).
        gc.freeze()
        # A full collection scans every client's objects (100+ ms with 1,000 clients, the
        # fan-out's slow rounds). Young collections stay as frequent; full ones are
        # considered every 100 middle-generation collections instead of Python's 10.
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, FULL_GC_EVERY)
        try:
            yield
        finally:
            metrics.registry.unregister(state)
            await stop_services(services)

    # Metrics exist before the services so the middleware can hold them from the start.
    metrics = Metrics()
    app = FastAPI(
        title="trade-canvas",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(market.router)
    app.include_router(ops.router)
    app.include_router(bots.router)
    app.include_router(ws.router)
    mount_frontend(app, settings.frontend_dir or default_frontend_dir(), demo=settings.demo)
    for venue in venue_names():  # `/binance/api/v3/klines` and the like
        app.mount(f"/{venue}", FacadeMount(venue))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(
        AllowedOrigins, allowed_origins=[*settings.allowed_origins, *settings.cors_origins]
    )
    app.add_middleware(
        AllowedHosts, allowed_hosts=settings.allowed_hosts or default_allowed_hosts(settings.host)
    )
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, body_timeout_s=settings.http.body_timeout_s
    )
    return app
