"""The leader's side of `RemoteSupply`: each kind of request read, done by this process's
own supply, and its answer written."""

from __future__ import annotations

from app.bus.ports import Handler
from app.exchanges.budget import on_behalf_of
from app.supply import messages
from app.supply.local import LocalSupply


def answers(local: LocalSupply) -> dict[str, Handler]:
    async def ensure(wire: messages.Wire) -> messages.Wire:
        r = messages.EnsureHistory.from_wire(wire)
        ready = await local.ensure_history(
            r.series, since=r.since, complete=r.complete, download=r.download
        )
        return messages.ready_wire(ready)

    async def fill(wire: messages.Wire) -> messages.Wire:
        r = messages.Fill.from_wire(wire)
        with on_behalf_of(r.caller):
            return messages.floor_wire(await local.fill(r.series, r.after, r.until))

    async def unstored(wire: messages.Wire) -> messages.Wire:
        r = messages.FetchUnstored.from_wire(wire)
        with on_behalf_of(r.caller):
            fetched = await local.fetch_unstored(
                r.series, r.after, r.until, limit=r.limit, newest=r.newest
            )
        return messages.fetched_wire(fetched)

    async def forming(wire: messages.Wire) -> messages.Wire:
        r = messages.FetchForming.from_wire(wire)
        with on_behalf_of(r.caller):
            return messages.candle_wire(await local.fetch_forming(r.series, r.open_time))

    async def correct(wire: messages.Wire) -> messages.Wire:
        r = messages.CorrectClosed.from_wire(wire)
        return messages.written_wire(await local.correct_closed(r.series_id, r.candles))

    async def markets(wire: messages.Wire) -> messages.Wire:
        r = messages.LoadMarkets.from_wire(wire)
        return messages.symbols_wire(await local.markets(r.venue, r.market))

    return {
        messages.EnsureHistory.kind: ensure,
        messages.Fill.kind: fill,
        messages.FetchUnstored.kind: unstored,
        messages.FetchForming.kind: forming,
        messages.CorrectClosed.kind: correct,
        messages.LoadMarkets.kind: markets,
    }
