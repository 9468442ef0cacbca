"""What the core asks of a candle store, and the values it answers with: the one seam
between the server and whichever engine keeps its candles (`store/sqlite/` today).

Two ways to write: `insert_*` keeps what is stored (a candle already held is never
rewritten; an offered one that differs is returned as a `Conflict`), which is how every
source that follows the exchange writes; `upsert_*` overwrites, for an operator's
correction through the ingest API. A batch is one transaction, so commits equal batches."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.candle import CandleRow, ExtrasByTime, KlineExtras
from app.store.holes import Hole


@dataclass(frozen=True, slots=True)
class SeriesStats:
    series_id: str
    first_time: int | None
    head_time: int | None
    count: int
    holes: int = 0  # ranges of candles it lacks between its first and its head


@dataclass(frozen=True, slots=True)
class SeriesSource:
    """Where some of a series' candles came from: `kind` `venue` (its identity the venue
    and the endpoints it was reached at), `datadir` (the file's path) or `ingest_api`."""

    kind: str
    identity: str
    since: int  # when first recorded (epoch s)


@dataclass(frozen=True, slots=True)
class CandlePage:
    """Candles of one read and the series' head then. `version` names exactly this
    answer: the same request while the series has not been written since, so whoever
    renders a page may keep its rendering by it. Treat `candles` as read-only: a page may
    be handed to several readers."""

    candles: list[CandleRow]
    head_time: int | None
    version: Hashable = None
    # The candles' `KlineExtras` by time, where kept (read only when asked for).
    extras: Mapping[int, KlineExtras] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """How far a datadir import of one file has come (see `history_imports`); `file_rows`
    is the number of candles the file held, once the import is complete."""

    signature: str
    through: int | None
    complete: bool
    file_rows: int | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """A candle offered for a time the store already holds with other values."""

    candle_time: int
    stored: CandleRow
    offered: CandleRow


@dataclass(frozen=True, slots=True)
class UpsertResult:
    series_id: str
    inserted: int
    updated: int
    head_time: int | None
    # The candles this write stored or changed, ascending: what followers must be sent.
    written: Sequence[CandleRow] = ()
    conflicts: tuple[Conflict, ...] = ()
    # The head before this write (read in its transaction): what it appended lies after.
    head_before: int | None = None


class CandleStore(Protocol):
    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def write_error(self) -> str | None:
        """Why the last write failed, until a write succeeds (a full disk...)."""

    @property
    def corruption(self) -> str | None:
        """Why the store is unreadable, once an engine said so."""

    async def upsert_many(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        *,
        progress: ImportProgress | None = None,
    ) -> UpsertResult:
        """Insert or update `candles` in one transaction; `progress` is recorded in it."""

    async def insert_many(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        *,
        progress: ImportProgress | None = None,
        extras: ExtrasByTime | None = None,
    ) -> UpsertResult:
        """Store the candles not held yet, in one transaction; a held one stays."""

    async def upsert_batches(
        self, batches: Mapping[str, Sequence[CandleRow]]
    ) -> dict[str, UpsertResult]: ...

    async def insert_batches(
        self,
        batches: Mapping[str, Sequence[CandleRow]],
        extras: Mapping[str, ExtrasByTime] | None = None,
    ) -> dict[str, UpsertResult]: ...

    async def set_import_progress(self, series_id: str, progress: ImportProgress) -> None:
        await self.insert_many(series_id, [], progress=progress)

    async def page(
        self,
        series_id: str,
        limit: int,
        *,
        since: int | None = None,
        before: int | None = None,
        newest: bool | None = None,
        extras: bool = False,
    ) -> CandlePage:
        """One page of candles, ascending, and the series' head time, in one read: after
        `since` and before `before` (both exclusive), the oldest `limit` when `since` is
        given, else the newest (`newest` chooses when both are)."""

    # Derived from the members above; an engine subclassing this Protocol inherits them.

    async def newest(self, series_id: str, limit: int) -> list[CandleRow]:
        return (await self.page(series_id, limit)).candles

    async def since(self, series_id: str, since: int, limit: int) -> list[CandleRow]:
        """Candles with `candle_time > since`, oldest first, at most `limit`."""
        return (await self.page(series_id, limit, since=since)).candles

    async def before(self, series_id: str, before: int, limit: int) -> list[CandleRow]:
        """The newest `limit` candles with `candle_time < before`, oldest first."""
        return (await self.page(series_id, limit, before=before)).candles

    async def stats(self, series_id: str) -> SeriesStats | None: ...

    async def head_time(self, series_id: str) -> int | None:
        stats = await self.stats(series_id)
        return stats.head_time if stats else None

    async def import_progress(self, series_id: str) -> ImportProgress | None: ...

    async def interrupted_imports(self) -> list[str]:
        """Series whose datadir import was cut short (to resume at start)."""

    async def list_series(self) -> list[SeriesStats]: ...

    async def note_source(self, series_id: str, kind: str, identity: str) -> None:
        """Record that candles of the series came from `kind` `identity` (once)."""

    async def sources(self) -> dict[str, list[SeriesSource]]:
        """Where each series' candles came from, by series, oldest first."""

    async def forget(self, series_id: str) -> int:
        """Remove the series and everything stored of it; the candles removed."""

    async def holes(self, series_id: str) -> list[Hole]:
        """The series' holes, oldest first: `(after, before)`, the stored candles around
        each (kept as candles are written, see `store.holes`)."""


class LeaderLock(Protocol):
    """Who of the processes sharing this store leads ingest (the one writer)."""

    async def try_lead(self) -> int | None:
        """The fencing epoch if this process now leads (the store checks it in every
        write from now on), else None."""

    async def holds(self) -> bool:
        """Renew the lead; whether this process still leads. Called every third of the
        TTL by the leader's event loop: a leader that stops calling it loses the lead."""

    async def close(self) -> None:
        """Give the lead up, if held."""
