"""What the core needs of a venue. Adapters (`exchanges/<venue>/`) implement these; the core
types against them and never imports an adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from app.candle import Candle, CandleRow, ExtrasByTime, KlineExtras
from app.clock import Clock
from app.errors import TradeCanvasError
from app.exchanges.budget import Caller
from app.series import CandleType, Market, SeriesId

Action = Literal["subscribe", "unsubscribe"]


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One listed symbol: the ccxt/freqtrade pair, the venue's own name for it, its price
    tick and amount step, and a contract's size in the base currency (each None when the
    venue does not say)."""

    symbol: str
    exchange_symbol: str
    price_tick: float | None
    amount_step: float | None
    contract_size: float | None = None


@dataclass(frozen=True, slots=True)
class KlinePage:
    """Closed candles of one REST answer, ascending, and what the venue said besides OHLCV
    (Binance: `KlineExtras`; others none)."""

    candles: list[CandleRow]
    extras: ExtrasByTime = field(default_factory=dict)


class KlinePages(Protocol):
    def closed_pages(
        self, series: SeriesId, after: int, *, until: int | None = None
    ) -> AsyncIterator[KlinePage]:
        """Pages of closed candles with `candle_time > after` (and `<= until`), ascending.
        Raises `UnknownSymbol`, `UpstreamRateLimited` or `ExchangeError`."""
        ...


class KlineRest(KlinePages, Protocol):
    """Closed candles and the market list over the venue's REST API, within its limits."""

    async def forming(self, series: SeriesId, open_time: int) -> Candle | None:
        """The candle opening at `open_time` as it stands now (still forming), or None
        when the venue has none. Raises `UpstreamRateLimited` or `ExchangeError`."""
        ...

    async def markets(self, market: Market, reload: bool = False) -> dict[str, SymbolInfo]:
        """Every symbol of `market` the venue lists. Raises `ExchangeError`."""
        ...

    async def server_time(self, market: Market) -> float:
        """The venue's clock now (epoch seconds), as its host of `market` says. Raises
        `ExchangeError`."""
        ...

    async def check_symbol(self, series: SeriesId) -> None:
        """Raise `UnknownSymbol` if the venue does not list the symbol, `ExchangeError`
        if the venue cannot be asked."""

    async def close(self) -> None: ...


class MarketCatalog(Protocol):
    """The symbols a venue lists, cached and refreshed."""

    async def is_listed(self, series: SeriesId) -> bool | None:
        """Whether the venue lists `series`' symbol; None when that cannot be known now."""

    async def symbols(self, market: Market) -> Mapping[str, SymbolInfo] | None:
        """Every listed symbol of `market`, by pair; None when the list cannot be had."""

    def cached(self, series: SeriesId) -> SymbolInfo | None:
        """What is known of `series`' symbol without asking the venue."""


class FrameError(TradeCanvasError):
    """A frame that is not what the venue sends."""


@dataclass(frozen=True, slots=True)
class KlineEvent:
    """A kline on a topic: the forming candle, or its close."""

    topic: str
    candle: Candle
    closed: bool
    event_time_ms: int | None
    extras: KlineExtras | None = None  # what the venue said besides OHLCV (Binance)


@dataclass(frozen=True, slots=True)
class PlannedReconnect:
    """The venue announced that it will close the connection (reconnect now, no backoff)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RequestRefused:
    reason: str


FeedEvent = KlineEvent | PlannedReconnect | RequestRefused


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """What the venue allows one client over its market streams."""

    topics_per_connection: int
    topics_per_request: int
    requests_per_s: float  # incoming messages a connection may send
    connects_per_5min: int  # connection attempts per IP
    max_connection_age_s: float | None  # the venue cuts connections older than this
    heartbeat_s: float | None  # how often the client must send `heartbeat()`
    klines_per_frame: int = 1  # most klines the venue sends in one message
    connects_per_s: int | None = None  # connection attempts per IP in any second
    requests_per_hour: int | None = None  # (un)subscribe requests per connection per hour


class LiveFeed(Protocol):
    """One venue's kline streams of one market: its wire dialect, not its socket. The core
    holds the connection, reconnects, batches and backfills; the feed says what to send and
    what a frame means (`parse` is a pure function)."""

    @property
    def name(self) -> str:
        """A short name for logs and connection names, e.g. `binance-futures`."""

    @property
    def market(self) -> CandleType:
        """The kind of series it streams (a market's candles, a contract's mark prices)."""

    @property
    def url(self) -> str: ...

    @property
    def limits(self) -> FeedLimits: ...

    def topic(self, series: SeriesId) -> str: ...

    def request(self, action: Action, topics: Sequence[str], request_id: int) -> str:
        """The frame that subscribes to or unsubscribes from `topics`."""

    def heartbeat(self) -> str | None:
        """The client's keep-alive message, sent every `limits.heartbeat_s` (None: the
        venue pings instead)."""

    def parse(self, raw: str | bytes) -> Sequence[FeedEvent]:
        """What one frame says (nothing, for pongs and replies that need no action).
        Raises `FrameError` for a frame the venue would not send."""
        ...


@dataclass(frozen=True, slots=True)
class KlineWindow:
    """Closed candles of a window, ascending, and the candle forming now when the window
    reaches the present."""

    closed: Sequence[CandleRow]
    forming: Candle | None
    # Names the closed part exactly (see `CandlePage.version`), for `KlineSource.rendered`.
    version: Hashable = None
    # The closed candles' `KlineExtras` by time, where the store keeps them.
    extras: Mapping[int, KlineExtras] = field(default_factory=dict)


class KlineSource(Protocol):
    """What an exchange-compatible facade reads klines from (the core implements it)."""

    async def klines(
        self,
        series: SeriesId,
        caller: Caller,
        limit: int,
        *,
        start: int | None,
        end: int | None,
        newest: bool,
    ) -> KlineWindow:
        """Closed candles opening between `start` and `end` (epoch seconds, inclusive,
        either optional): the `limit` oldest or `newest` of them, and the forming candle
        when the window reaches it; whole, or an error: `UnknownSymbol`, `ClientError`
        (admission), `UpstreamRateLimited` or `ExchangeError` (the venue cannot fill what
        the store lacks of it now)."""
        ...

    def rendered(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """`render()`, or what it returned before for `key` (a window's `version` and
        whatever else the rendering depends on)."""
        ...


class KlineFollower(Protocol):
    """What a facade's kline stream follows a series through (the core implements it)."""

    async def follow(
        self, series: SeriesId, client: str, deliver: Callable[[Candle, bool], None]
    ) -> Callable[[], Awaitable[None]]:
        """Hand `deliver(candle, closed)` the series' candles from now on (closed ones once
        committed); returns what stops it. Raises `ClientError`s: unknown symbol,
        capacity, the client's budget."""
        ...


class ConnectionCount(Protocol):
    """Open connections per client address, capped."""

    limit: int

    def enter(self, address: str) -> bool: ...

    def leave(self, address: str) -> None: ...


class FacadeObserver(Protocol):
    def observe(self, venue: str, endpoint: str, source: str, seconds: float) -> None: ...

    def stream_frame(self, venue: str, closed: bool) -> None: ...

    def stream_closed(self, venue: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """What one client of a facade's kline stream may do before it is closed (the venues
    close such connections too): fall behind by `queue_max` frames, send a message over
    `max_message_bytes`, or send faster than `messages_per_s` beyond a `message_burst`;
    and how many topics it may follow on one connection (`topics_max`: past it, a
    subscription is refused)."""

    queue_max: int
    max_message_bytes: int
    messages_per_s: float
    message_burst: int
    topics_max: int


@dataclass(frozen=True, slots=True)
class FacadeContext:
    """What the core hands a venue's exchange-compatible facade."""

    klines: KlineSource
    streams: KlineFollower
    connections: ConnectionCount
    clock: Clock
    metrics: FacadeObserver
    document_refresh_s: float  # market lists and the like are refreshed this often
    stream_limits: StreamLimits
    # What this server's own history downloads send in `CALLER_HEADER` (a secret).
    history_token: str
