"""The root of a cluster's `api` process: it serves clients from the bus and the store,
and asks the ingest leader for everything else (it never calls a venue for candles, and
never writes)."""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack

from app.clock import Clock
from app.config import Settings
from app.metrics import Metrics
from app.roots.cluster import join_cluster
from app.roots.core import Hub, open_core, warm_catalogs
from app.roots.serving import build_reads, services_of
from app.services import Services
from app.supply.remote import catalogs_through


async def start_api(settings: Settings, metrics: Metrics, clock: Clock) -> Services:
    stack = AsyncExitStack()
    try:
        core = await open_core(stack, settings, metrics, clock)
        hub = Hub.build(settings, core.store, clock)
        node, remote = await join_cluster(stack, settings, metrics, hub, clock)
        core = dataclasses.replace(
            core, venues=catalogs_through(remote, lambda: False, core.venues, clock)
        )
        reads = build_reads(
            settings, core, remote, hub, datadirs=None,
            datadir_write_error=lambda _: None, venue_lacks=lambda _: 0,
            metrics=metrics, clock=clock,
        )  # fmt: skip
        warm_catalogs(stack, settings, core)
        return services_of(
            stack, settings, metrics, clock, core, hub, supply=remote, reads=reads,
            published=node.publisher, writing=None, cluster=node,
        )  # fmt: skip
    except BaseException:
        await stack.aclose()  # what was started before a part failed
        raise
