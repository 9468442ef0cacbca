"""The supply's calls as messages on the bus: each request a typed, immutable value with
its kind, written to and read from a JSON object (`to_wire`, `from_wire`); each answer
likewise. A request of the wrong shape raises `KeyError`, `TypeError` or `ValueError`
when read, which the answering side reports back as unreadable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from app.candle import Candle, CandleRow, KlineExtras, row_of
from app.exchanges.budget import LIVE, Caller
from app.exchanges.ports import SymbolInfo
from app.series import Market, SeriesId, parse_series_id
from app.store import UpsertResult

Wire = dict[str, Any]


def _caller_wire(caller: Caller) -> Wire:
    return {"k": caller.kind, "ca": caller.address}


def _caller_of(wire: Wire) -> Caller:
    """On whose behalf the asker reads, so the leader charges the venue's budget to them."""
    kind = wire.get("k")
    if kind not in ("live", "client", "history"):
        return LIVE
    return Caller(kind, str(wire.get("ca", "")))


@dataclass(frozen=True, slots=True)
class EnsureHistory:
    kind: ClassVar[str] = "ensure"
    series: SeriesId
    since: int | None
    complete: bool
    download: bool

    def to_wire(self) -> Wire:
        return {"s": str(self.series), "since": self.since, "c": self.complete, "d": self.download}

    @classmethod
    def from_wire(cls, wire: Wire) -> EnsureHistory:
        since = wire["since"]
        return cls(
            parse_series_id(wire["s"]),
            None if since is None else int(since),
            bool(wire["c"]),
            bool(wire.get("d", True)),
        )


@dataclass(frozen=True, slots=True)
class Fill:
    kind: ClassVar[str] = "fill"
    series: SeriesId
    after: int
    until: int
    caller: Caller

    def to_wire(self) -> Wire:
        return {
            "s": str(self.series),
            "a": self.after,
            "u": self.until,
            **_caller_wire(self.caller),
        }

    @classmethod
    def from_wire(cls, wire: Wire) -> Fill:
        return cls(parse_series_id(wire["s"]), int(wire["a"]), int(wire["u"]), _caller_of(wire))


@dataclass(frozen=True, slots=True)
class FetchUnstored:
    kind: ClassVar[str] = "unstored"
    series: SeriesId
    after: int
    until: int
    limit: int
    newest: bool
    caller: Caller

    def to_wire(self) -> Wire:
        return {
            "s": str(self.series), "a": self.after, "u": self.until, "l": self.limit,
            "n": self.newest, **_caller_wire(self.caller),
        }  # fmt: skip

    @classmethod
    def from_wire(cls, wire: Wire) -> FetchUnstored:
        return cls(
            parse_series_id(wire["s"]), int(wire["a"]), int(wire["u"]), int(wire["l"]),
            bool(wire["n"]), _caller_of(wire),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FetchForming:
    kind: ClassVar[str] = "forming"
    series: SeriesId
    open_time: int
    caller: Caller

    def to_wire(self) -> Wire:
        return {"s": str(self.series), "t": self.open_time, **_caller_wire(self.caller)}

    @classmethod
    def from_wire(cls, wire: Wire) -> FetchForming:
        return cls(parse_series_id(wire["s"]), int(wire["t"]), _caller_of(wire))


@dataclass(frozen=True, slots=True)
class CorrectClosed:
    kind: ClassVar[str] = "correct"
    series_id: str
    candles: tuple[CandleRow, ...]

    def to_wire(self) -> Wire:
        return {"s": self.series_id, "c": [list(c) for c in self.candles]}

    @classmethod
    def from_wire(cls, wire: Wire) -> CorrectClosed:
        return cls(str(parse_series_id(wire["s"])), tuple(row_of(r) for r in wire["c"]))


@dataclass(frozen=True, slots=True)
class LoadMarkets:
    kind: ClassVar[str] = "markets"
    venue: str
    market: Market

    def to_wire(self) -> Wire:
        return {"v": self.venue, "m": self.market}

    @classmethod
    def from_wire(cls, wire: Wire) -> LoadMarkets:
        market = wire["m"]
        if market not in ("spot", "futures"):
            raise ValueError(f"no market {market!r}")
        return cls(str(wire["v"]), market)


Request = EnsureHistory | Fill | FetchUnstored | FetchForming | CorrectClosed | LoadMarkets

# -- answers --------------------------------------------------------------------------


def ready_wire(ready: bool) -> Wire:
    return {"ready": ready}


def ready_of(wire: Wire) -> bool:
    return bool(wire.get("ready", True))


def floor_wire(floor: int | None) -> Wire:
    return {"floor": floor}


def floor_of(wire: Wire) -> int | None:
    return None if wire["floor"] is None else int(wire["floor"])


def fetched_wire(fetched: tuple[list[CandleRow], dict[int, KlineExtras]]) -> Wire:
    rows, extras = fetched
    return {"rows": [list(r) for r in rows], "extras": [list(e) for e in extras.values()]}


def fetched_of(wire: Wire) -> tuple[list[CandleRow], dict[int, KlineExtras]]:
    rows = [row_of(r) for r in wire["rows"]]
    extras = {int(e[0]): KlineExtras(int(e[0]), float(e[1]), int(e[2]), float(e[3]), float(e[4]))
              for e in wire["extras"]}  # fmt: skip
    return rows, extras


def candle_wire(candle: Candle | None) -> Wire:
    return {"candle": None if candle is None else list(candle)}


def candle_of(wire: Wire) -> Candle | None:
    row = wire["candle"]
    return None if row is None else Candle(*row)


def written_wire(result: UpsertResult) -> Wire:
    return {"inserted": result.inserted, "updated": result.updated, "head": result.head_time}


def written_of(series_id: str, wire: Wire) -> UpsertResult:
    return UpsertResult(series_id, wire["inserted"], wire["updated"], wire["head"])


def symbols_wire(symbols: Mapping[str, SymbolInfo] | None) -> Wire:
    if symbols is None:
        return {"symbols": None}
    return {
        "symbols": {
            pair: [i.exchange_symbol, i.price_tick, i.amount_step, i.contract_size]
            for pair, i in symbols.items()
        }
    }


def symbols_of(wire: Wire) -> dict[str, SymbolInfo] | None:
    symbols: dict[str, Sequence[Any]] | None = wire["symbols"]
    if symbols is None:
        return None
    return {
        pair: SymbolInfo(pair, str(name), tick, step, size)
        for pair, (name, tick, step, size) in symbols.items()
    }
