"""Services: the long-lived parts a process's routes reach (through `api.deps`), as its
role's composition root (`app.roots`) built them, and what stops them."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass

from starlette.types import ASGIApp

from app.admission import Admission
from app.bots.monitor import BotBoard
from app.bus.ports import Bus
from app.clock import Clock
from app.cluster.node import ClusterNode
from app.config import Settings
from app.exchanges.facade_support import FacadeMetrics
from app.exchanges.registry import VenueRegistry
from app.history.datadir import Datadirs
from app.history.download import DownloadManager
from app.history.writethrough import DatadirWriteThrough
from app.hub import CandleWriter, Fanout
from app.ingest.provenance import Provenance
from app.metrics import Metrics
from app.ratelimit import ConnectionsPerAddress
from app.reads.query import CandleQuery
from app.reads.registry import SeriesRegistry
from app.reads.subscriptions import Subscriptions
from app.store import CandleStore
from app.supply.ports import SeriesSupply


@dataclass(frozen=True, slots=True)
class Reads:
    """What the chart's and the facades' routes read through."""

    # Every API's candle reads: the chart's and the exchange-compatible facades'.
    query: CandleQuery
    subscriptions: Subscriptions
    series: SeriesRegistry
    admission: Admission
    ws_connections: ConnectionsPerAddress
    # Each venue's exchange-compatible API, by venue name (`/binance/...`).
    facades: Mapping[str, ASGIApp]
    facade_metrics: FacadeMetrics


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    metrics: Metrics
    store: CandleStore
    # Every venue's adapter; their REST clients (ccxt) are shared by the ccxt history
    # source and the live ingestors.
    venues: VenueRegistry
    # What readers ask of the writer side: this process's, or in a cluster the leader's.
    supply: SeriesSupply
    reads: Reads
    # The user's freqtrade bots (`TRADE_CANVAS_BOTS`), read for the chart.
    bots: BotBoard
    fanout: Fanout
    # Where this process's closes (through the writer), forming candles and errors go: its
    # own fan-out and caches, or in a cluster the bus to every process.
    published: Bus
    # None in a process that never writes (a cluster's `api` role).
    writer: CandleWriter | None
    cluster: ClusterNode | None
    datadirs: Datadirs | None
    downloads: DownloadManager | None
    # Writes closed candles into the datadir files (`DATADIR_WRITE=1`).
    write_through: DatadirWriteThrough | None
    # Where each series' candles came from; series filled from another endpoint.
    provenance: Provenance
    # Stops everything started, in the reverse order.
    stops: AsyncExitStack


async def stop_services(services: Services) -> None:
    await services.stops.aclose()
