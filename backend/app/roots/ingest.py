"""The root of a cluster's `ingest` or `all` process: it serves like an `api` process, and
competes to lead ingest; while it leads it follows the venues, runs history imports and
downloads, heals holes and answers what the other processes ask of the writer side."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from app.clock import Clock
from app.cluster.election import Lead
from app.cluster.node import ClusterNode
from app.config import Settings
from app.ingest.supervisor import IngestSupervisor
from app.metrics import Metrics
from app.roots.cluster import join_cluster
from app.roots.core import Core, Hub, open_core, warm_catalogs
from app.roots.serving import build_reads, services_of
from app.roots.writing import (
    Writing,
    build_healer,
    build_supervisor,
    start_companions,
    start_history_follow,
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
        hub = Hub.build(settings, core.store, clock)
        node, remote = await join_cluster(stack, settings, metrics, hub, clock)

        def leading() -> bool:
            return node.leading

        core = dataclasses.replace(
            core, venues=catalogs_through(remote, leading, core.venues, clock)
        )
        # Its history imports and downloads write, so only a leader's run.
        writing = Writing.open(stack, settings, core, hub, node.publisher, metrics, clock)
        fill = writing.fill(core, clock)
        local = LocalSupply(remote, writing.history, fill, core.venues, writing.writer)
        supply = LeaderRouted(local, remote, leading)
        reads = build_reads(
            settings, core, supply, hub, datadirs=writing.datadirs,
            datadir_write_error=writing.datadir_write_error, venue_lacks=lambda _: 0,
            metrics=metrics, clock=clock,
        )  # fmt: skip
        writing.start_write_through(stack)
        warm_catalogs(stack, settings, core)
        node.compete(settings, core.store, _leader_parts(settings, core, node, writing, local,
                                                         fill, metrics, clock), clock)  # fmt: skip
        stack.push_async_callback(node.stop_competing)  # first: its last commits go out
        return services_of(
            stack, settings, metrics, clock, core, hub, supply=supply, reads=reads,
            published=node.publisher, writing=writing, cluster=node,
        )  # fmt: skip
    except BaseException:
        await stack.aclose()  # what was started before a part failed
        raise


def _leader_parts(
    settings: Settings,
    core: Core,
    node: ClusterNode,
    writing: Writing,
    local: LocalSupply,
    fill: VenueFill,
    metrics: Metrics,
    clock: Clock,
) -> Lead:
    """What runs while this process leads: a supervisor of its own holding what the
    cluster holds, its history imports, the healer, and the answers to what other
    processes ask of the writer side."""
    writer, history, ingest_metrics = writing.writer, writing.history, writing.ingest_metrics
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
            healer = build_healer(settings, core, writer, writing.guards, clock)
            healer.start()
            parts.push_async_callback(healer.stop)
        start_companions(parts, settings, core, fill, clock)
        leading[:] = [supervisor]

        async def stop() -> None:
            leading.clear()
            await parts.aclose()

        return stop

    return lead
