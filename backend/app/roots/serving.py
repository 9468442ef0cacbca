"""What every role serves with: the readers over a supply, the user's bots, and the `Services`
the routes reach."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from app.admission import Admission
from app.bots.monitor import BotBoard
from app.bus.ports import Bus
from app.clock import Clock
from app.cluster.node import ClusterNode
from app.config import Settings
from app.exchanges.facade_support import FacadeMetrics
from app.exchanges.ports import FacadeContext, StreamLimits
from app.history.datadir import Datadirs
from app.metrics import Metrics
from app.ratelimit import ConnectionsPerAddress
from app.reads.query import CandleQuery, QueryOptions
from app.reads.registry import SeriesRegistry
from app.reads.streams import KlineStreams
from app.reads.subscriptions import Subscriptions
from app.roots.core import Core, Hub
from app.roots.writing import Writing
from app.services import Reads, Services
from app.supply.ports import SeriesSupply


def build_reads(
    settings: Settings,
    core: Core,
    supply: SeriesSupply,
    hub: Hub,
    *,
    datadirs: Datadirs | None,
    datadir_write_error: Callable[[str], str | None],
    venue_lacks: Callable[[str], int],
    metrics: Metrics,
    clock: Clock,
) -> Reads:
    """The chart's reads and subscriptions and the facades, over `supply`."""
    store, venues = core.store, core.venues
    admission = Admission(
        store,
        venues,
        datadirs=datadirs,
        always_served=frozenset(str(s) for s in core.whitelist),
        starts_work=supply.has_history or settings.live_ingest,
        per_client_per_min=settings.work.requests_per_min,
        per_client_burst=settings.work.requests_burst,
        clock=clock,
        provenance=core.provenance,
    )
    query = CandleQuery(
        store, admission, supply, hub.forming, clock=clock,
        options=QueryOptions(close_wait_s=settings.live.close_grace_s),
    )  # fmt: skip
    facade_metrics = FacadeMetrics(metrics)
    ws_connections = ConnectionsPerAddress(settings.ws.max_connections_per_address)
    context = FacadeContext(
        query, KlineStreams(hub.taps, supply, admission, clock), ws_connections, clock,
        facade_metrics, settings.facade.document_refresh_s,
        StreamLimits(settings.ws.send_queue_max, settings.ws.max_message_bytes,
                     settings.ws.messages_per_s, settings.ws.message_burst,
                     settings.ws.max_subscriptions),
        core.history_token,
    )  # fmt: skip
    return Reads(
        query=query,
        subscriptions=Subscriptions(
            hub.fanout, supply, max_per_client=settings.ws.max_subscriptions
        ),
        series=SeriesRegistry(
            store,
            venues,
            supply,
            datadirs,
            [str(s) for s in core.whitelist],
            live_ingest=settings.live_ingest,
            datadir_write_error=datadir_write_error,
            venue_lacks=venue_lacks,
            provenance=core.provenance,
        ),
        admission=admission,
        ws_connections=ws_connections,
        facades={
            v.name: v.facade(context, v.catalog) for v in venues.values() if v.facade is not None
        },
        facade_metrics=facade_metrics,
    )


def open_bots(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics, clock: Clock
) -> BotBoard:
    bots = BotBoard.build(
        settings.bots, metrics, clock, poll_s=settings.bot.poll_s,
        timeout_s=settings.bot.timeout_s, max_bytes=settings.bot.max_bytes,
        max_open_trades=settings.bot.max_open_trades,
    )  # fmt: skip
    stack.push_async_callback(bots.close)
    return bots


def services_of(
    stack: AsyncExitStack,
    settings: Settings,
    metrics: Metrics,
    clock: Clock,
    core: Core,
    hub: Hub,
    *,
    supply: SeriesSupply,
    reads: Reads,
    published: Bus,
    writing: Writing | None,
    cluster: ClusterNode | None,
) -> Services:
    """What the routes reach, the user's bots opened last (so closed first)."""
    return Services(
        settings=settings,
        clock=clock,
        metrics=metrics,
        store=core.store,
        venues=core.venues,
        supply=supply,
        reads=reads,
        bots=open_bots(stack, settings, metrics, clock),
        fanout=hub.fanout,
        published=published,
        writer=None if writing is None else writing.writer,
        cluster=cluster,
        datadirs=None if writing is None else writing.datadirs,
        downloads=None if writing is None else writing.downloads,
        write_through=None if writing is None else writing.write_through,
        provenance=core.provenance,
        stops=stack,
    )
