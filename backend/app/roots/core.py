"""What every role opens first and closes last: the store, the venues, the whitelist, and this
process's fan-out and caches."""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass

from app.bus.memory import Buses
from app.bus.ports import Bus
from app.clock import Clock
from app.config import Settings
from app.errors import ConfigError, InvalidSeriesId
from app.exchanges.registry import VenueRegistry
from app.exchanges.upstream import UpstreamMetrics
from app.exchanges.venues import VENUES
from app.history.datadir import configured_exchange, load_freqtrade_config
from app.hub import Fanout
from app.hub.forming import FormingCandles
from app.hub.taps import Taps
from app.ingest.provenance import Provenance
from app.locks import SeriesLocks
from app.metrics import Metrics
from app.series import SeriesId, parse_series_id
from app.store import CandleStore, build_store
from app.tasks import spawn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Core:
    """What every role opens first, and closes last."""

    store: CandleStore
    provenance: Provenance
    venues: VenueRegistry
    whitelist: list[SeriesId]
    # What this process's own history downloads name themselves with to its facades.
    history_token: str


async def open_core(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics, clock: Clock
) -> Core:
    whitelist = whitelist_of(settings)
    store = build_store(
        settings.store.url, settings.db.path, metrics,
        read_threads=settings.db.read_threads, pool_size=settings.store.pool_size,
    )  # fmt: skip
    await store.open()
    stack.push_async_callback(store.close)
    provenance = Provenance(store, settings.venue_identity)
    await provenance.load()
    # Lazy: no ccxt client exists until the first request that needs one.
    venues = build_venues(settings, clock, metrics)
    stack.push_async_callback(venues.close)
    return Core(store, provenance, venues, whitelist, secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class Hub:
    """This process's fan-out and the caches fed beside it, and the locks they share with
    the writer."""

    locks: SeriesLocks
    fanout: Fanout
    forming: FormingCandles
    taps: Taps
    # All three fed as one bus.
    local: Bus

    @classmethod
    def build(cls, settings: Settings, store: CandleStore, clock: Clock) -> Hub:
        locks = SeriesLocks()
        fanout = Fanout(store, locks, catchup_max=settings.ws.catchup_max)
        forming, taps = FormingCandles(clock), Taps()
        return cls(locks, fanout, forming, taps, Buses(fanout, forming, taps))


def whitelist_of(settings: Settings) -> list[SeriesId]:
    """`TRADE_CANVAS_WHITELIST`, else the freqtrade config's pair whitelist on its exchange,
    at its timeframe and trading mode."""
    if settings.whitelist or settings.freqtrade.config is None:
        return [parse_series_id(s) for s in settings.whitelist]
    config = load_freqtrade_config(settings.freqtrade.config)
    pairs = (config.get("exchange") or {}).get("pair_whitelist") or []
    timeframe = config.get("timeframe")
    if pairs and not timeframe:
        raise ConfigError(
            f'freqtrade config {settings.freqtrade.config} has no "timeframe": its pair '
            'whitelist needs one (add e.g. "timeframe": "5m", or set TRADE_CANVAS_WHITELIST)'
        )
    market = "futures" if config.get("trading_mode") == "futures" else "spot"
    exchange = configured_exchange(config)
    series = []
    for pair in pairs:
        try:
            series.append(parse_series_id(f"{exchange}:{market}:{pair}:{timeframe}"))
        except InvalidSeriesId as e:
            log.warning("skipping whitelist pair %s of %s: %s", pair, settings.freqtrade.config, e)
    return series


def build_venues(settings: Settings, clock: Clock, metrics: Metrics) -> VenueRegistry:
    upstream = UpstreamMetrics(metrics)
    return VenueRegistry([venue.build(settings, upstream, clock) for venue in VENUES])


def warm_catalogs(stack: AsyncExitStack, settings: Settings, core: Core) -> None:
    """Load the whitelisted series' market lists at start-up, so their ticks are listed."""
    if settings.live_ingest:
        task = spawn(core.venues.warm(core.whitelist), "market list warm-up")

        async def cancel() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        stack.push_async_callback(cancel)
