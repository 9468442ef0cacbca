"""The exception tree. Lower-library errors are translated into these at the boundary."""

from __future__ import annotations


class TradeCanvasError(Exception):
    """Base of every error this project raises on purpose."""


class ClientError(TradeCanvasError):
    """The caller asked for something invalid; maps to a 4xx or a WS `error` message."""

    code = "bad_request"
    status = 400


class InvalidSeriesId(ClientError):
    code = "invalid_series_id"


class InvalidCandle(ClientError):
    code = "invalid_candle"


class InvalidParameter(ClientError):
    code = "invalid_parameter"


class ConfigError(TradeCanvasError):
    """A setting, config file or path the server cannot start with."""


class StoreError(TradeCanvasError):
    """The candle store could not be opened, migrated, read or written."""


class Fenced(StoreError):
    """This process led ingest once, but another leads now: its writes are refused."""


class BusError(TradeCanvasError):
    """The bus between a cluster's processes cannot be reached or used."""


class CapacityExceeded(ClientError):
    code = "capacity"
    status = 503


class MarketListUnavailable(ClientError):
    """A series that is nowhere here cannot be checked against its venue's market list
    now; nothing is started for it (fail closed)."""

    code = "market_list_unavailable"
    status = 503

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManySubscriptions(ClientError):
    code = "too_many_subscriptions"


class ExchangeError(TradeCanvasError):
    """An exchange's API failed or is unreachable; worth retrying later."""


class UpstreamRateLimited(ExchangeError):
    """The exchange rate-limited (or banned) this server; nothing is asked of it until
    `retry_after_s` has passed."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StreamBroken(ExchangeError):
    """A venue's stream could not be opened, or broke while open."""


class UnknownSymbol(ExchangeError, ClientError):
    """The exchange does not list this symbol; retrying will not help."""

    code = "unknown_symbol"
    status = 404


class NotFetched(UnknownSymbol):
    """This server does not fetch this series from its venue (a contract's funding rates,
    or another venue's mark, index or premium index prices): it serves what was imported of
    it, and fetching the contract's own candles instead would poison it."""

    code = "not_fetched"


class ProvenanceConflict(ClientError):
    """The series' stored candles came from another exchange endpoint than the one this
    server follows (the demo's, a local one): the two are not served as one series."""

    code = "provenance_conflict"
    status = 409


class UnknownBot(ClientError):
    """No bot of that name is configured (`TRADE_CANVAS_BOTS`)."""

    code = "unknown_bot"
    status = 404
