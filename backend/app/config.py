"""Settings: one object, built once at startup and handed to whatever needs it.

Grouped by concern: the word after `TRADE_CANVAS_` names the group, the rest the setting,
so `TRADE_CANVAS_WS_MAX_SUBSCRIPTIONS` is `settings.ws.max_subscriptions`. The variable
names are those documented in docs/configuration.md. Keyword arguments take the same flat names
(`Settings(ws_max_subscriptions=8)`), or a group's values (`Settings(ws={...})`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.bots.config import BotConfig, parse_bots
from app.errors import InvalidSeriesId
from app.logs import LogFormat
from app.series import parse_series_id

_PREFIX = "TRADE_CANVAS_"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsGroup(BaseModel):
    # No infinite or NaN durations, rates or intervals: `inf` flush intervals never flush.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class DbSettings(SettingsGroup):
    path: Path = Path("user_data/trade_canvas.sqlite")
    # Reads are CPU-bound (rows become Python objects under the GIL); more threads only
    # contend for it, so one is the fastest under load on this kind of machine.
    read_threads: int = Field(default=1, ge=1, le=16)


class StoreSettings(SettingsGroup):
    """Where the candles are kept: unset or `sqlite:///path` the embedded SQLite file
    (`DB_PATH`), `postgresql://user:password@host/db` a PostgreSQL database."""

    url: str | None = None
    # Connections to PostgreSQL per process.
    pool_size: int = Field(default=4, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "a store URL starts with sqlite:/// or postgresql:// "
                f"(got {value.split('://')[0]}://...)"
            )
        return value


class BusSettings(SettingsGroup):
    """How committed and forming candles reach the other processes of a cluster: unset,
    in this process only; `redis://host:port/db` through Redis."""

    url: str | None = None
    # Closed-candle messages Redis keeps (about): a replica that reconnects within them
    # resumes where it stopped.
    stream_max: int = Field(default=100_000, ge=1_000)

    @field_validator("url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"a bus URL starts with redis:// or unix:// (got {value.split('://')[0]}://...)"
            )
        return value


class LeaderSettings(SettingsGroup):
    # A standby ingest process leads within this long of the leader's death.
    ttl_s: float = Field(default=10.0, gt=0, le=300)


class FreqtradeSettings(SettingsGroup):
    datadir: Path | None = None
    config: Path | None = None


class HistorySettings(SettingsGroup):
    """History bootstrap from the freqtrade datadir, and `download-data` for the rest."""

    batch_size: int = Field(default=5_000, ge=100, le=100_000)
    recheck_s: float = Field(default=5.0, ge=0)
    # How often the datadir files of series open in a chart are looked at for appends.
    follow_s: float = Field(default=2.0, gt=0)
    wait_s: float = Field(default=20.0, ge=0)
    min_candles: int = Field(default=0, ge=0)
    data_format: Literal["feather", "parquet", "jsongz", "json"] | None = None
    download: bool = True
    download_days: float = Field(default=30.0, gt=0)
    download_timeout_s: float = Field(default=900.0, gt=0)
    download_cooldown_s: float = Field(default=300.0, ge=0)
    download_max_concurrent: int = Field(default=2, ge=1)
    download_config: Path | None = None


class DatadirSettings(SettingsGroup):
    """The datadir kept current with the store's closed candles (`DATADIR_WRITE=1`)."""

    write: bool = False
    write_every_s: float = Field(default=60.0, gt=0)


class OndemandSettings(SettingsGroup):
    """Live series started by a subscriber rather than the whitelist."""

    max_jobs: int = Field(default=16, ge=0)
    idle_ttl_s: float = Field(default=60.0, ge=0)
    # The share of `max_jobs` one client address may hold, so one client cannot take all.
    max_share: float = Field(default=0.5, gt=0, le=1)

    @property
    def max_jobs_per_client(self) -> int:
        return max(1, round(self.max_jobs * self.max_share))


class WorkSettings(SettingsGroup):
    """Requests that start work (an import, a download, a live job) for a series not yet
    stored, per client address: a rate per minute and a burst."""

    requests_per_min: float = Field(default=60.0, gt=0)
    requests_burst: int = Field(default=30, ge=1)


class LiveSettings(SettingsGroup):
    """Live ingest of every venue. The timers were first named after one venue; those names
    still work where the `LIVE_*` one is not set (`VenueSettings.live_aliases`)."""

    batch_max: int = Field(default=500, ge=1)
    flush_s: float = Field(default=0.25, gt=0)
    stale_s: float = Field(default=30.0, gt=0)
    close_grace_s: float = Field(default=3.0, ge=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    backfill_max_candles: int = Field(default=1_000, ge=1)

    # A candle the exchange sends that lies further ahead of this server's clock is
    # rejected as coming from the future (exchanges' and servers' clocks drift a little).
    clock_skew_s: float = Field(default=10.0, ge=0)
    # A failed REST backfill is retried with backoff, up to this long between tries.
    backfill_retry_max_s: float = Field(default=60.0, gt=0)
    # Each followed venue's clock is read this often (and when first followed), to say
    # when this server's clock is too far from it for its candles to be taken.
    clock_check_s: float = Field(default=300.0, gt=0)
    # The store's holes are looked over and asked of the venues this often; a hole the
    # venue has no candles for either is asked again after `heal_retry_s`.
    heal_every_s: float = Field(default=10.0, gt=0)
    heal_retry_s: float = Field(default=3600.0, gt=0)
    # Each stored futures contract's mark price and funding rate (what a futures backtest
    # loads beside its candles) are kept current from the venue, looked at this often.
    companions: bool = True
    companions_every_s: float = Field(default=10.0, gt=0)


class FacadeSettings(SettingsGroup):
    """The exchange-compatible APIs (`/<venue>/...`)."""

    # A forwarded answer (ticker, order book...) is reused this long for the same query.
    cache_s: float = Field(default=1.0, ge=0)
    # ...and up to this old (its `Age` said) while the budget has no room for a fresh one.
    stale_s: float = Field(default=10.0, ge=0)
    # Market lists (`exchangeInfo`, `instruments-info`) are refreshed this often.
    document_refresh_s: float = Field(default=3_600.0, gt=0)


class UpstreamSettings(SettingsGroup):
    """How each venue's request budget is shared (see `exchanges/budget.py`): shares of
    every pool of it (Binance's minute weight on each host, Bybit's requests per 5 s, each
    OKX endpoint's requests per 2 s)."""

    # Kept for live ingest (backfills, catch-ups, market lists): no client may take it.
    reserve_share: float = Field(default=0.2, ge=0, lt=1)
    # The most background history (a download of a series' older candles) may use.
    history_share: float = Field(default=0.25, gt=0, le=1)
    # The most one client address may use; beyond it, that client alone gets the venue's
    # 429 with Retry-After.
    client_share: float = Field(default=0.5, gt=0, le=1)
    # Requests one client address may have waiting for room or in flight upstream.
    client_inflight_max: int = Field(default=64, ge=1)
    # How long a client's request may wait for room in the budget before its 429.
    client_wait_s: float = Field(default=2.0, ge=0)


class BotSettings(SettingsGroup):
    """How the bots of `TRADE_CANVAS_BOTS` are read."""

    # Each bot is asked at most this often, however many charts show it.
    poll_s: float = Field(default=5.0, gt=0)
    # A poll (or one dataframe read) that takes longer marks the bot down until the next.
    timeout_s: float = Field(default=5.0, gt=0)
    # One answer of a bot larger than this is refused (the bot is `error`), unread beyond.
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    # A bot reporting more open trades than this is `error` (what a chart could draw).
    max_open_trades: int = Field(default=1_000, ge=1)


class HttpSettings(SettingsGroup):
    """Slow or silent HTTP clients: headers and body must arrive within these."""

    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=10.0, gt=0)


class WsSettings(SettingsGroup):
    """WebSocket limits that protect the server from abusive or slow clients."""

    max_subscriptions: int = Field(default=64, ge=1)
    max_message_bytes: int = Field(default=16_384, ge=256)
    send_queue_max: int = Field(default=2_048, ge=8)
    # Unsent bytes per client, catchups included; a client that asks for more is closed.
    # Two full catchups (5,000 candles, ~0.5 MB each) and a busy live stream fit.
    send_queue_max_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    catchup_max: int = Field(default=5_000, ge=1, le=5_000)
    # Client messages per second (and burst) before they are dropped with `rate_limited`.
    messages_per_s: float = Field(default=20.0, gt=0)
    message_burst: int = Field(default=100, ge=1)
    # Open connections from one client address.
    max_connections_per_address: int = Field(default=32, ge=1)


class VenueSettings(SettingsGroup):
    """A venue's own settings (`TRADE_CANVAS_<VENUE>_*`, `settings.venue(Group)`): declared in
    the venue's package and registered with `register_venue_settings`, so the core names no
    venue."""

    venue: ClassVar[str]
    # The venue's own older names of live ingest's settings: `LIVE_*` field -> field here,
    # read when the `LIVE_*` one is not set (the contract keeps names working).
    live_aliases: ClassVar[Mapping[str, str]] = {}


_VENUE_SETTINGS: dict[str, type[VenueSettings]] = {}
G = TypeVar("G", bound=VenueSettings)


def register_venue_settings(group: type[VenueSettings]) -> None:
    _VENUE_SETTINGS[group.venue] = group


def _venue_values(values: dict[str, Any], venue: str) -> dict[str, Any]:
    """What the environment and then the keyword arguments (`binance_spot_rest_url=...` or
    `binance={...}`) say of one venue's group; the keywords are taken out of `values`."""
    prefix = f"{_PREFIX}{venue.upper()}_"
    found = {
        k[len(prefix) :].lower(): v for k, v in os.environ.items() if k.upper().startswith(prefix)
    }
    given = values.pop(venue, None)
    found.update(
        given.model_dump(exclude_unset=True) if isinstance(given, BaseModel) else given or {}
    )
    for key in [k for k in values if k.startswith(venue + "_")]:
        found[key.removeprefix(venue + "_")] = values.pop(key)
    return found


def _venue_group(group: type[VenueSettings], values: dict[str, Any]) -> VenueSettings:
    try:
        return group.model_validate(values)
    except ValidationError as e:
        # Named as the variables are: TRADE_CANVAS_BINANCE_SPOT_REST_URL.
        errors = [
            cast(
                InitErrorDetails,
                {
                    **{k: v for k, v in err.items() if k in ("type", "input", "ctx")},
                    "loc": (group.venue, *err["loc"]),
                },
            )
            for err in e.errors()
        ]
        raise ValidationError.from_exception_data("Settings", errors) from None


class Settings(BaseSettings):
    """Every `TRADE_CANVAS_*` setting. See docs/configuration.md for the meaning of each."""

    model_config = SettingsConfigDict(
        env_prefix=_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,  # TRADE_CANVAS_WS_MAX_SUBSCRIPTIONS: ws.max_subscriptions
        extra="ignore",
        allow_inf_nan=False,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    market_history_source: Literal["freqtrade", "ccxt", "off"] = "freqtrade"
    whitelist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    live_ingest: bool = True
    enable_debug_api: bool = False
    enable_ingest_api: bool = False
    ingest_token: str | None = None
    # The built chart (frontend/dist of this checkout when unset).
    frontend_dir: Path | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Browser origins besides the server's own whose WebSocket upgrades (and POSTs) are
    # served; `*` any.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # `Host` names served; unset: the loopback names on a loopback bind, else any.
    allowed_hosts: Annotated[list[str] | None, NoDecode] = None
    # The user's freqtrade bots, shown on the chart (see `app.bots.config.parse_bots`).
    bots: Annotated[list[BotConfig], NoDecode] = Field(default_factory=list)
    # `serve --demo`: the venues are local exchanges making their candles up; said on the
    # chart and in the banner.
    demo: bool = False
    # What this process does in a cluster (`serve --role`): `all` serves and may ingest,
    # `ingest` competes to be the one process writing, `api` serves from store and bus.
    role: Literal["all", "ingest", "api"] = "all"
    # Log lines as text, or as one JSON object each (read by the CLI before the settings).
    log_format: LogFormat = "text"

    db: DbSettings = DbSettings()
    store: StoreSettings = StoreSettings()
    bus: BusSettings = BusSettings()
    leader: LeaderSettings = LeaderSettings()
    freqtrade: FreqtradeSettings = FreqtradeSettings()
    history: HistorySettings = HistorySettings()
    datadir: DatadirSettings = DatadirSettings()
    ondemand: OndemandSettings = OndemandSettings()
    work: WorkSettings = WorkSettings()
    live: LiveSettings = LiveSettings()
    facade: FacadeSettings = FacadeSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    bot: BotSettings = BotSettings()
    http: HttpSettings = HttpSettings()
    ws: WsSettings = WsSettings()

    _venues: dict[str, VenueSettings] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        venues = {name: _venue_values(values, name) for name in _VENUE_SETTINGS}
        super().__init__(**values)
        self._venues = {n: _venue_group(_VENUE_SETTINGS[n], v) for n, v in venues.items()}
        self._live_aliases()

    @classmethod
    def groups(cls) -> dict[str, type[SettingsGroup]]:
        """Every group by the word after `TRADE_CANVAS_`: the core's, then each venue's."""
        core = {
            name: group
            for name, field in cls.model_fields.items()
            if isinstance(group := field.annotation, type) and issubclass(group, SettingsGroup)
        }
        return {**core, **_VENUE_SETTINGS}

    def venue(self, group: type[G]) -> G:
        """The settings of the venue whose package declares `group`."""
        found = self._venues.get(group.venue)
        return found if isinstance(found, group) else group()

    def venue_identity(self, name: str) -> str:
        """Which exchange a venue's candles come from, as the store records it: the demo's,
        or the venue at its REST endpoints (any loopback host is one local exchange: a
        local exchange's port differs from run to run, and it is never the real one)."""
        if self.demo:
            return f"{name}: the demo's local exchange"
        group = self._venues.get(name) or _VENUE_SETTINGS[name]()
        urls = {
            _endpoint(v)
            for k, v in group.model_dump().items()
            if k.endswith("rest_url") and isinstance(v, str)
        }
        return f"{name} at {', '.join(sorted(urls))}"

    @model_validator(mode="before")
    @classmethod
    def _into_groups(cls, data: Any) -> Any:
        """Flat keyword names (`ws_max_subscriptions=8`) into their group, over what the
        environment gave that group."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, field in cls.model_fields.items():
            group = field.annotation
            if not (isinstance(group, type) and issubclass(group, SettingsGroup)):
                continue
            given = data.get(name)
            values = given.model_dump() if isinstance(given, SettingsGroup) else dict(given or {})
            for key in [k for k in data if k.startswith(name + "_")]:
                if (setting := key.removeprefix(name + "_")) in group.model_fields:
                    values[setting] = data.pop(key)
            data[name] = values
        return data

    @field_validator("whitelist", "cors_origins", "allowed_origins", "allowed_hosts",
                     mode="before")  # fmt: skip
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("whitelist")
    @classmethod
    def _series_ids(cls, value: list[str]) -> list[str]:
        for series_id in value:
            if len(series_id.split()) > 1:
                raise ValueError(
                    f"separate ids with commas, not spaces: {','.join(series_id.split())}"
                )
            try:
                parse_series_id(series_id)
            except InvalidSeriesId as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("bots", mode="before")
    @classmethod
    def _bots(cls, value: object) -> object:
        return parse_bots(value)

    @field_validator("bots")
    @classmethod
    def _unique_bot_names(cls, value: list[BotConfig]) -> list[BotConfig]:
        names = [bot.name for bot in value]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"bot names must differ: {', '.join(duplicated)} given twice")
        return value

    def _live_aliases(self) -> None:
        """A venue's older names (`BINANCE_WS_FLUSH_S`) set live ingest's settings unless
        `LIVE_*` does."""
        given = {
            live: getattr(group, own)
            for group in self._venues.values()
            for live, own in group.live_aliases.items()
            if own in group.model_fields_set and live not in self.live.model_fields_set
        }
        if given:
            self.live = LiveSettings(**{**self.live.model_dump(exclude_unset=True), **given})

    @model_validator(mode="after")
    def _cluster_parts(self) -> Settings:
        """A cluster shares its store and its bus: the processes must name the same ones."""
        if self.role != "all" and self.bus.url is None:
            raise ValueError(
                f"role {self.role} runs beside other processes: set TRADE_CANVAS_BUS_URL "
                "(redis://...)"
            )
        store_url = self.store.url or ""
        if self.bus.url is not None and not store_url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "processes sharing a bus share their store: set TRADE_CANVAS_STORE_URL "
                "(postgresql://...)"
            )
        return self

    @property
    def clustered(self) -> bool:
        return self.bus.url is not None

    @field_validator("ingest_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("ingest_token")
    @classmethod
    def _ascii_token(cls, value: str | None) -> str | None:
        # An HTTP header carries bytes; a non-ASCII token could never be presented the same
        # way by every client.
        if value is not None and not (value.isascii() and value.isprintable()):
            raise ValueError("must be printable ASCII")
        return value


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        return "a local exchange"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"
