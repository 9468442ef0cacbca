"""SeriesSupply: everything a reader may ask of the writer side. Readers read the store
and the bus themselves; whatever would start work, fetch from a venue or write goes
through here, so a reader never knows whether this process or the cluster's leader does it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from app.candle import Candle, CandleRow, KlineExtras
from app.feeds import IngestPort
from app.series import SeriesId
from app.store import UpsertResult

# Candles fetched from a venue (ascending), and what it said besides OHLCV, by time.
Fetched = tuple[list[CandleRow], dict[int, KlineExtras]]


class SeriesSupply(IngestPort, Protocol):
    """Hold and release series, lease them, and read their feeds' state (`IngestPort`),
    and the rest below."""

    @property
    def has_history(self) -> bool:
        """Whether series get history on demand (a datadir import, a download)."""

    async def ensure_history(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        """Return once the store can serve `series`: its newest candles, everything after
        `since`, or all of it (`complete`); whether it can (see `HistorySource.ensure`).
        True at once when series get no history on demand."""

    def history_states(self) -> dict[str, dict[str, Any]]:
        """Each series' history import or download, where this process runs them."""

    def history_state_of(self, series_id: str) -> dict[str, Any] | None: ...

    async def fill(self, series: SeriesId, after: int, until: int) -> int | None:
        """Fetch the venue's closed candles in `(after, until]` and store them; the venue's
        first candle time when this found where its history starts. Raises the venue's
        error (`ExchangeError`, `UpstreamRateLimited`) when it cannot be asked now."""

    async def fetch_unstored(
        self, series: SeriesId, after: int, until: int, *, limit: int, newest: bool
    ) -> Fetched:
        """The venue's closed candles in `(after, until]`, not stored: all of them when
        `newest`, else from the oldest on until `limit` are had (this server's own
        download's read, passed through as the venue's would be)."""

    async def fetch_forming(self, series: SeriesId, open_time: int) -> Candle | None:
        """The venue's candle of `series` opening at `open_time`, if it has one."""

    async def correct_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        """An operator's correction of stored closed candles, written and published.
        Raises `StoreError` when it was not written."""
