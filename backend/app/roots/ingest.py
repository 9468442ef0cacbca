"""The root of a cluster's `ingest` or `all` process: it serves like an `api` process, and
competes to lead ingest; while it leads it follows the venues, runs history imports and
downloads, heals holes and answers what the other processes ask of the writer side."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack

from app.clock import Clock
from app.cluster.election import Lead
from app.cluster.node import ClusterNode
from app.config import Settings
from app.history.source import HistorySource
from app.hub import CandleWriter
from app.ingest.guard import KlineGuard
from app.ingest.metrics import IngestMetrics
from app.ingest.supervisor import IngestSupervisor
from app.metrics import Metrics
from app.roots.parts import (
    Core,
    Hub,
    build_guards,
    build_healer,
    build_history,
    build_reads,
    build_supervisor,
    build_write_through,
    build_writer,
    join_cluster,
    open_bots,
    open_core,
    start_history_follow,
    warm_catalogs,
)
from app.services import Services
from app.supply.answers import answers
from app.supply.fill import VenueFill
from app.supply.local import LocalSupply
from app.supply.remote import catalogs_through
from app.supply.routed import LeaderRouted


async def start_ingest(settings: Settings, metrics: Metrics, clock: Clock) -> Services:
    stack = AsyncExitStack()
    try:
        core = await open_core(stack, settings, metrics, clock)
        store = core.store
        hub = Hub.build(settings, store, clock)
        node, remote = await join_cluster(stack, settings, metrics, hub, clock)

        def leading() -> bool:
            return node.leading

        core = dataclasses.replace(
            core, venues=catalogs_through(remote, leading, core.venues, clock)
        )
        venues = core.venues
        write_through = build_write_through(settings, store, metrics, clock)
        writer = build_writer(store, hub.locks, node.publisher, write_through, clock)
        # The leader's: imports and downloads write, so only a leader's run.
        history, datadirs, downloads = build_history(
            settings, store, writer, metrics, venues, clock, core.history_token
        )
        for part in (downloads, history):
            if part is not None:
                stack.push_async_callback(part.stop)
        ingest_metrics = IngestMetrics(metrics, clock)
        guards = build_guards(settings, venues, ingest_metrics, clock)
        local = LocalSupply(
            remote, history, VenueFill(store, venues, writer, guards, core.provenance),
            venues, writer,
        )  # fmt: skip
        supply = LeaderRouted(local, remote, leading)
        reads = build_reads(
            settings, core, supply, hub, guards, datadirs=datadirs,
            datadir_write_error=write_through.failing if write_through else lambda _: None,
            venue_lacks=lambda _: 0, metrics=metrics, clock=clock,
        )  # fmt: skip
        if write_through is not None:
            write_through.start()
            stack.push_async_callback(write_through.stop)
        warm_catalogs(stack, settings, core)
        lead = _leader_parts(
            settings, core, node, writer, history, local, ingest_metrics, guards, metrics, clock
        )
        node.compete(settings, store, lead, clock)
        stack.push_async_callback(node.stop_competing)  # first: its last commits go out
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
            published=node.publisher,
            writer=writer,
            cluster=node,
            datadirs=datadirs,
            downloads=downloads,
            write_through=write_through,
            provenance=core.provenance,
            stops=stack,
        )
    except BaseException:
        await stack.aclose()  # what was started before a part failed
        raise


def _leader_parts(
    settings: Settings,
    core: Core,
    node: ClusterNode,
    writer: CandleWriter,
    history: HistorySource | None,
    local: LocalSupply,
    ingest_metrics: IngestMetrics,
    guards: Mapping[str, KlineGuard],
    metrics: Metrics,
    clock: Clock,
) -> Lead:
    """What runs while this process leads: a supervisor of its own holding what the
    cluster holds, its history imports, the healer, and the answers to what other
    processes ask of the writer side."""
    leading: list[IngestSupervisor] = []
    ingest_metrics.watch_heads(lambda: leading[0].heads() if leading else {})
    handlers = answers(local)

    async def lead(epoch: int) -> Callable[[], Awaitable[None]]:
        parts = AsyncExitStack()
        supervisor = build_supervisor(
            settings, core, writer, node.publisher, ingest_metrics, history, metrics, clock,
        )  # fmt: skip
        if history is not None:
            parts.push_async_callback(history.stop)  # its imports write: only a leader's run
        await supervisor.start()
        parts.push_async_callback(supervisor.stop)
        # The series open in a chart anywhere in the cluster are the ones it holds.
        await start_history_follow(parts, settings, history, supervisor.held_series, clock)
        board = node.bus.demand_board(supervisor, epoch=epoch)
        board.start()
        parts.push_async_callback(board.stop)
        asked = node.bus.answering(handlers)
        asked.start()
        parts.push_async_callback(asked.stop)
        if settings.live_ingest:
            healer = build_healer(settings, core, writer, guards, clock)
            healer.start()
            parts.push_async_callback(healer.stop)
        leading[:] = [supervisor]

        async def stop() -> None:
            leading.clear()
            await parts.aclose()

        return stop

    return lead
