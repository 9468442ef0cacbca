"""LeaderWork: what only the leader of a cluster does for a read or a request (fetch what
the store lacks from a venue, ask a venue for a forming candle, write an operator's
correction), as any process of the cluster calls it: done right here when this process
leads, else asked of the leader over the bus and awaited. So the leader stays the one
process calling the exchanges for candles and the one writing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.bus.redis.asks import Handler, LeaderAsk
from app.candle import Candle, CandleRow
from app.errors import BusError, ExchangeError, StoreError
from app.exchanges.budget import LIVE, Caller, current_caller, on_behalf_of
from app.exchanges.registry import VenueRegistry
from app.hub.writer import CandleWriter
from app.query import CandleQuery
from app.series import SeriesId, parse_series_id
from app.store import UpsertResult


class LeaderWork:
    def __init__(
        self,
        ask: LeaderAsk,
        leading: Callable[[], bool],
        writer: CandleWriter,
        venues: VenueRegistry,
        *,
        timeout_s: float,
    ) -> None:
        self._ask = ask
        self._leading = leading
        self._writer = writer
        self._venues = venues
        self._timeout_s = timeout_s
        # Set once built (the query is built with this object's `fill`).
        self.query: CandleQuery | None = None

    async def _asked(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._ask(kind, payload, self._timeout_s)

    # -- what any process calls -------------------------------------------------------

    async def fill(self, series: SeriesId, after: int, until: int) -> int | None:
        if self._leading():
            return await self._local_query().fill(series, after, until)
        payload = {"s": str(series), "a": after, "u": until, **_caller_payload()}
        try:
            answer = await self._asked("fill", payload)
        except BusError as e:
            raise ExchangeError(str(e)) from e  # the reader gets the venue's 503
        return None if answer["floor"] is None else int(answer["floor"])

    async def forming(self, series: SeriesId, open_time: int) -> Candle | None:
        if self._leading():
            return await self._venues.forming(series, open_time)
        try:
            answer = await self._asked(
                "forming", {"s": str(series), "t": open_time, **_caller_payload()}
            )
        except BusError as e:
            raise ExchangeError(str(e)) from e
        row = answer["candle"]
        return None if row is None else Candle(*row)

    async def correct_closed(self, series_id: str, candles: Sequence[CandleRow]) -> UpsertResult:
        if self._leading():
            return await self._writer.correct_closed(series_id, candles)
        try:
            answer = await self._asked("correct", {"s": series_id, "c": [list(c) for c in candles]})
        except BusError as e:
            raise StoreError(f"the correction was not written: {e}") from e
        return UpsertResult(series_id, answer["inserted"], answer["updated"], answer["head"])

    # -- the leader's side ------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        return {"fill": self._fill, "forming": self._forming, "correct": self._correct}

    def _local_query(self) -> CandleQuery:
        if self.query is None:
            raise ExchangeError("this process is still starting")
        return self.query

    async def _fill(self, payload: dict[str, Any]) -> dict[str, Any]:
        series = parse_series_id(payload["s"])
        with on_behalf_of(_caller_of(payload)):
            floor = await self._local_query().fill(series, int(payload["a"]), int(payload["u"]))
        return {"floor": floor}

    async def _forming(self, payload: dict[str, Any]) -> dict[str, Any]:
        with on_behalf_of(_caller_of(payload)):
            candle = await self._venues.forming(parse_series_id(payload["s"]), int(payload["t"]))
        return {"candle": None if candle is None else list(candle)}

    async def _correct(self, payload: dict[str, Any]) -> dict[str, Any]:
        series_id = str(parse_series_id(payload["s"]))
        rows: list[CandleRow] = [
            (int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
            for r in payload["c"]
        ]
        result = await self._writer.correct_closed(series_id, rows)
        return {"inserted": result.inserted, "updated": result.updated, "head": result.head_time}


def _caller_payload() -> dict[str, str]:
    """On whose behalf the asker reads, so the leader charges the venue's budget to them."""
    caller = current_caller()
    return {"k": caller.kind, "ca": caller.address}


def _caller_of(payload: dict[str, Any]) -> Caller:
    kind = payload.get("k")
    if kind not in ("live", "client", "history"):
        return LIVE
    return Caller(kind, str(payload.get("ca", "")))
