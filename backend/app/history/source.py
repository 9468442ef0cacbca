"""What the API needs of a history source: make a series servable, and report on it."""

from __future__ import annotations

from typing import Any, Protocol

from app.series import SeriesId


class HistorySource(Protocol):
    async def ensure(
        self, series: SeriesId, *, since: int | None = None, complete: bool = False
    ) -> None:
        """Return once the store can serve `series` (or a wait limit passed)."""

    def states(self) -> dict[str, dict[str, Any]]: ...

    async def stop(self) -> None: ...
