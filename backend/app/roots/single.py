"""The root of a server alone (no bus): it serves, follows the venues and writes, all in
this process."""

from __future__ import annotations

from contextlib import AsyncExitStack

from app.clock import Clock
from app.config import Settings
from app.metrics import Metrics
from app.roots.core import Hub, open_core, warm_catalogs
from app.roots.serving import build_reads, services_of
from app.roots.writing import (
    Writing,
    build_healer,
    build_supervisor,
    start_companions,
    start_history_follow,
)
from app.services import Services
from app.supply.local import LocalSupply


async def start_single(settings: Settings, metrics: Metrics, clock: Clock) -> Services:
    stack = AsyncExitStack()
    try:
        core = await open_core(stack, settings, metrics, clock)
        hub = Hub.build(settings, core.store, clock)
        writing = Writing.open(stack, settings, core, hub, hub.local, metrics, clock)
        writer, history = writing.writer, writing.history
        supervisor = build_supervisor(
            settings, core, writer, hub.local, writing.ingest_metrics, history, metrics, clock
        )
        writing.ingest_metrics.watch_heads(supervisor.heads)
        fill = writing.fill(core, clock)
        supply = LocalSupply(supervisor, history, fill, core.venues, writer)
        healer = None
        if settings.live_ingest:
            healer = build_healer(settings, core, writer, writing.guards, clock)
        reads = build_reads(
            settings, core, supply, hub, datadirs=writing.datadirs,
            datadir_write_error=writing.datadir_write_error,
            venue_lacks=healer.venue_lacks if healer else lambda _: 0,
            metrics=metrics, clock=clock,
        )  # fmt: skip
        writing.start_write_through(stack)
        await supervisor.start()
        stack.push_async_callback(supervisor.stop)
        await start_history_follow(stack, settings, history, hub.fanout.followed, clock)
        if healer is not None:
            healer.start()
            stack.push_async_callback(healer.stop)
        start_companions(stack, settings, core, fill, clock)
        warm_catalogs(stack, settings, core)
        return services_of(
            stack, settings, metrics, clock, core, hub, supply=supply, reads=reads,
            published=hub.local, writing=writing, cluster=None,
        )  # fmt: skip
    except BaseException:
        await stack.aclose()  # what was started before a part failed
        raise
