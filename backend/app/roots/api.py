"""The root of a cluster's `api` process: it serves clients from the bus and the store,
and asks the ingest leader for everything else (it never calls a venue for candles, and
never writes)."""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack

from app.clock import Clock
from app.config import Settings
from app.ingest.metrics import IngestMetrics
from app.metrics import Metrics
from app.roots.parts import (
    Hub,
    build_guards,
    build_reads,
    join_cluster,
    open_bots,
    open_core,
    warm_catalogs,
)
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
        guards = build_guards(settings, core.venues, IngestMetrics(metrics, clock), clock)
        reads = build_reads(
            settings, core, remote, hub, guards, datadirs=None,
            datadir_write_error=lambda _: None, venue_lacks=lambda _: 0,
            metrics=metrics, clock=clock,
        )  # fmt: skip
        warm_catalogs(stack, settings, core)
        return Services(
            settings=settings,
            clock=clock,
            metrics=metrics,
            store=core.store,
            venues=core.venues,
            supply=remote,
            reads=reads,
            bots=open_bots(stack, settings, metrics, clock),
            fanout=hub.fanout,
            published=node.publisher,
            writer=None,
            cluster=node,
            datadirs=None,
            downloads=None,
            write_through=None,
            provenance=core.provenance,
            stops=stack,
        )
    except BaseException:
        await stack.aclose()  # what was started before a part failed
        raise
