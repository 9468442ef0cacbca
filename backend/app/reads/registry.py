"""SeriesRegistry: which series exist, as `GET /api/market/series` lists them.

A series exists when the store holds it, it is whitelisted, it is live, the history source
has looked at it, or the datadir has a file for it. Each entry says where it stands in
each of those, and carries the venue's tick size once the venue's market list is cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from app.exchanges.registry import VenueRegistry
from app.history.datadir import Datadirs, list_datadirs
from app.ingest.provenance import Provenance
from app.reads.status import series_status
from app.series import (
    SeriesId,
    align_time,
    next_candle_time,
    parse_series_id,
)
from app.store import CandleStore
from app.store.holes import missing
from app.supply.ports import SeriesSupply

# The newest holes a series' status lists (its count says how many there are).
SHOWN_HOLES = 100


class SeriesRegistry:
    def __init__(
        self,
        store: CandleStore,
        venues: VenueRegistry,
        supply: SeriesSupply,
        datadirs: Datadirs | None,
        whitelist: Iterable[str],
        live_ingest: bool,
        datadir_write_error: Callable[[str], str | None],
        venue_lacks: Callable[[str], int],
        provenance: Provenance,
    ) -> None:
        self._store = store
        self._venues = venues
        self._supply = supply
        self._datadirs = datadirs
        self._datadir_write_error = datadir_write_error
        self._venue_lacks = venue_lacks
        self._provenance = provenance
        self._whitelist = list(whitelist)
        self._live_ingest = live_ingest

    async def listing(self) -> list[dict[str, Any]]:
        live = set(self._supply.live_series())
        history = self._supply.history_states()
        known: dict[str, dict[str, Any]] = {
            s.series_id: self._entry(s.series_id, s.first_time, s.head_time, s.count, s.holes)
            for s in await self._store.list_series()
        }
        for series_id in [*self._whitelist, *live, *history]:
            known.setdefault(series_id, self._entry(series_id, None, None, 0))
        if self._datadirs is not None:
            for file in await asyncio.to_thread(list_datadirs, self._datadirs):
                if file.series_id is not None:
                    item = known.setdefault(
                        file.series_id, self._entry(file.series_id, None, None, 0)
                    )
                    item.setdefault("datadir_files", []).append(
                        {"path": str(file.path), "format": file.format, "problem": file.problem}
                    )
        for series_id, item in known.items():
            item["live"] = series_id in live
            if series_id in history:
                item["history"] = history[series_id]
            item["status"] = self._status(
                series_id, item["head_time"], history.get(series_id), item["hole_count"]
            )
        return [known[k] for k in sorted(known)]

    async def status(self, series: SeriesId) -> dict[str, Any]:
        """The status of one series (whether or not the server knows it yet)."""
        key = str(series)
        stats = await self._store.stats(key)
        history = self._supply.history_state_of(key)
        holes = await self._store.holes(key) if stats is not None and stats.holes else []
        return {
            "series_id": key,
            **self._status(key, stats.head_time if stats else None, history, len(holes)),
            "holes": [
                {
                    "from": next_candle_time(after, series.timeframe),
                    "to": align_time(before - 1, series.timeframe),  # the candle before `before`
                    "candles": missing((after, before), series.timeframe),
                }
                for after, before in reversed(holes[-SHOWN_HOLES:])
            ],
            "missing_candles": sum(missing(h, series.timeframe) for h in holes),
        }

    def _status(
        self,
        series_id: str,
        head_time: int | None,
        history: dict[str, Any] | None,
        holes: int = 0,
    ) -> dict[str, Any]:
        conflict = self._provenance.problem(series_id)
        if conflict is not None:
            return {"state": "conflict", "reason": conflict, "head_time": head_time,
                    "hole_count": holes}  # fmt: skip
        series = parse_series_id(series_id)
        venue = self._venues.get(series.exchange)
        return series_status(
            feed=self._supply.feed_status(series_id),
            history=history,
            head_time=head_time,
            live_ingest=self._live_ingest,
            datadir=str(self._datadirs.of(series.exchange)) if self._datadirs is not None else None,
            datadir_write_error=self._datadir_write_error(series_id),
            holes=holes,
            venue_lacks=self._venue_lacks(series_id),
            streamed=venue is None or series.market in venue.feeds,
            fetched=venue is None or series.market in venue.fetched,
        )

    def _entry(
        self,
        series_id: str,
        first_time: int | None,
        head_time: int | None,
        count: int,
        holes: int = 0,
    ) -> dict[str, Any]:
        series = parse_series_id(series_id)  # every id here was parsed when it came in
        venue = self._venues.get(series.exchange)
        info = venue.catalog.cached(series) if venue is not None else None
        return {
            "series_id": series_id,
            "exchange": series.exchange,
            "market": series.market,
            "symbol": series.symbol,
            "timeframe": series.timeframe,
            "first_time": first_time,
            "head_time": head_time,
            "count": count,
            "hole_count": holes,
            "live": False,
            "price_tick": info.price_tick if info else None,
            "amount_step": info.amount_step if info else None,
        }
