"""LeaderRouted: the supply of a process in a cluster. What fetches from a venue or writes
is done right here while this process leads, else asked of the leader; series are held
through the cluster's demand either way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.candle import Candle, CandleRow
from app.series import SeriesId
from app.store import UpsertResult
from app.supply.holds import HoldsThrough
from app.supply.local import LocalSupply
from app.supply.ports import Fetched, SeriesSupply
from app.supply.remote import RemoteSupply


class LeaderRouted(HoldsThrough):
    def __init__(
        self, local: LocalSupply | None, remote: RemoteSupply, leading: Callable[[], bool]
    ) -> None:
        """`local`: None where this process may never lead (role `api`)."""
        super().__init__(remote)
        self._local = local
        self._remote = remote
        self._leading = leading

    def _doer(self) -> SeriesSupply:
        return self._local if self._local is not None and self._leading() else self._remote

    @property
    def has_history(self) -> bool:
        return self._remote.has_history

    async def ensure_history(
        self,
        series: SeriesId,
        *,
        since: int | None = None,
        complete: bool = False,
        download: bool = True,
    ) -> bool:
        return await self._doer().ensure_history(
            series, since=since, complete=complete, download=download
        )

    def history_states(self) -> dict[str, dict[str, Any]]:
        return self._doer().history_states()

    def history_state_of(self, series_id: str) -> dict[str, Any] | None:
        return self._doer().history_state_of(series_id)

    async def fill(self, series: SeriesId, after: int, until: int) -> int | None:
        return await self._doer().fill(series, after, until)

    async def fetch_unstored(
        self, series: SeriesId, after: int, until: int, *, limit: int, newest: bool
    ) -> Fetched:
        return await self._doer().fetch_unstored(series, after, until, limit=limit, newest=newest)

    async def fetch_forming(self, series: SeriesId, open_time: int) -> Candle | None:
        return await self._doer().fetch_forming(series, open_time)

    async def correct_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        return await self._doer().correct_closed(series_id, candles)
