"""Provenance: where a series' candles came from, and never two exchanges served as one.

The store records each source of a series (`store.sources`): the venue at the endpoints it
was reached at, a datadir file, the ingest API. Before this server fetches a series from a
venue (follows it live, fills a window, heals a hole), it claims the series for the venue
as it is configured now: a series whose candles came from that venue at other endpoints
(the demo's local exchange, a test exchange, another host) is refused, so its stored
candles are never joined to the real venue's nor served as them. Such series are found at
start, said in their status and in `/ready`, with the way out: forget the series
(`trade-canvas store forget --series ...`) or keep a store per exchange.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.errors import ProvenanceConflict
from app.series import SeriesId
from app.store import CandleStore

log = logging.getLogger(__name__)

# The kind of source a venue's fetches are recorded as (beside `datadir`, `ingest_api`).
VENUE = "venue"


class Provenance:
    def __init__(self, store: CandleStore, identity_of: Callable[[str], str]) -> None:
        """`identity_of(venue)`: the venue as this server reaches it."""
        self._store = store
        self._identity_of = identity_of
        # Series whose candles came from their venue at other endpoints: what they were.
        self._conflicts: dict[str, str] = {}
        self._claimed: set[str] = set()

    async def load(self) -> None:
        """Find the stored series filled from their venue at other endpoints (at start)."""
        for series_id, sources in (await self._store.sources()).items():
            venue = series_id.split(":", 1)[0]
            try:
                ours = self._identity_of(venue)
            except KeyError:
                continue  # a venue this server does not serve: never fetched
            other = next((s.identity for s in sources if s.kind == VENUE and s.identity != ours),
                         None)  # fmt: skip
            if other is not None:
                self._conflicts[series_id] = other
                log.warning("%s", self._why(series_id, other, ours))
            elif any(s.kind == VENUE for s in sources):
                self._claimed.add(series_id)

    async def claim(self, series: SeriesId) -> None:
        """Before candles of `series` are fetched from its venue. Raises
        `ProvenanceConflict` when its stored candles came from the venue elsewhere."""
        key = str(series)
        if key in self._claimed:
            return
        ours = self._identity_of(series.exchange)
        other = self._conflicts.get(key)
        if other is not None:
            raise ProvenanceConflict(self._why(key, other, ours))
        await self._store.note_source(key, VENUE, ours)
        self._claimed.add(key)

    def problem(self, series_id: str) -> str | None:
        other = self._conflicts.get(series_id)
        if other is None:
            return None
        return self._why(series_id, other, self._identity_of(series_id.split(":", 1)[0]))

    def problems(self) -> list[str]:
        """For `/ready`."""
        if not self._conflicts:
            return []
        first = min(self._conflicts)
        more = f" and {len(self._conflicts) - 1} more" if len(self._conflicts) > 1 else ""
        return [f"{len(self._conflicts)} series not served: {self.problem(first)}{more}"]

    @staticmethod
    def _why(series_id: str, other: str, ours: str) -> str:
        return (
            f"{series_id}: its stored candles came from {other}, this server follows {ours}; "
            f"not served as one series (trade-canvas store forget --series {series_id}, "
            "or a store of its own)"
        )
