"""What the API needs of a history source (make a series servable, and report on it), and
what a history source needs to write: the CandleWriter's history path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from app.candle import CandleRow, ExtrasByTime
from app.series import SeriesId
from app.store import ImportProgress, UpsertResult


class HistorySource(Protocol):
    async def ensure(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        """Return once the store can serve `series`: its newest candles, everything after
        `since`, or all of its history (`complete`); whether it can. False when a wait
        limit passed first, or (`download` False) when a download is under way: that is
        not waited for, and goes on in the background."""

    def states(self) -> dict[str, dict[str, Any]]: ...

    def state_of(self, series_id: str) -> dict[str, Any] | None:
        """One series' entry of `states()`."""

    async def stop(self) -> None: ...


class HistoryWriter(Protocol):
    async def import_batch(
        self,
        series_id: str,
        candles: Sequence[CandleRow],
        progress: ImportProgress | None,
        extras: ExtrasByTime | None = None,
        *,
        from_archive: bool = False,
    ) -> UpsertResult:
        """Commit a batch of history (and the import progress it completes) at once;
        `from_archive`: its rows were read from the datadir (not written back to it)."""
