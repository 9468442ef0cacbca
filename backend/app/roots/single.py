"""The root of a server alone (no bus): it serves, follows the venues and writes, all in
this process."""

from __future__ import annotations

from contextlib import AsyncExitStack

from app.clock import Clock
from app.config import Settings
from app.ingest.metrics import IngestMetrics
from app.metrics import Metrics
from app.roots.parts import (
    Hub,
    build_guards,
    build_healer,
    build_history,
    build_reads,
    build_supervisor,
    build_write_through,
    build_writer,
    open_bots,
    open_core,
    start_history_follow,
    warm_catalogs,
)
from app.services import Services
from app.supply.fill import VenueFill
from app.supply.local import LocalSupply


async def start_single(settings: Settings, metrics: Metrics, clock: Clock) -> Services:
    stack = AsyncExitStack()
    try:
        core = await open_core(stack, settings, metrics, clock)
        store, venues = core.store, core.venues
        hub = Hub.build(settings, store, clock)
        write_through = build_write_through(settings, store, metrics, clock)
        writer = build_writer(store, hub.locks, hub.local, write_through, clock)
        history, datadirs, downloads = build_history(
            settings, store, writer, metrics, venues, clock, core.history_token
        )
        for part in (downloads, history):
            if part is not None:
                stack.push_async_callback(part.stop)
        ingest_metrics = IngestMetrics(metrics, clock)
        guards = build_guards(settings, venues, ingest_metrics, clock)
        supervisor = build_supervisor(
            settings, core, writer, hub.local, ingest_metrics, history, metrics, clock
        )
        ingest_metrics.watch_heads(supervisor.heads)
        supply = LocalSupply(
            supervisor, history, VenueFill(store, venues, writer, guards, core.provenance),
            venues, writer,
        )  # fmt: skip
        healer = (
            build_healer(settings, core, writer, guards, clock) if settings.live_ingest else None
        )
        reads = build_reads(
            settings, core, supply, hub, guards, datadirs=datadirs,
            datadir_write_error=write_through.failing if write_through else lambda _: None,
            venue_lacks=healer.venue_lacks if healer else lambda _: 0,
            metrics=metrics, clock=clock,
        )  # fmt: skip
        if write_through is not None:
            write_through.start()
            stack.push_async_callback(write_through.stop)  # after the feeds: their last closes
        await supervisor.start()
        stack.push_async_callback(supervisor.stop)
        await start_history_follow(stack, settings, history, hub.fanout.followed, clock)
        if healer is not None:
            healer.start()
            stack.push_async_callback(healer.stop)
        warm_catalogs(stack, settings, core)
        return Services(
            settings=settings,
            clock=clock,
            metrics=metrics,
            store=store,
            venues=venues,
            supply=supply,
            reads=reads,
            bots=open_bots(stack, settings, metrics, clock),
            fanout=hub.fanout,
            published=hub.local,
            writer=writer,
            cluster=None,
            datadirs=datadirs,
            downloads=downloads,
            write_through=write_through,
            provenance=core.provenance,
            stops=stack,
        )
    except BaseException:
        await stack.aclose()  # what was started before a part failed
        raise
