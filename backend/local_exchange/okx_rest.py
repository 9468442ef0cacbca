"""OKX's v5 market-data REST answers for the fake exchange: `public/time`,
`public/instruments` (SPOT and SWAP, with `tickSz` and `lotSz`), `market/candles` (newest
first, the forming candle included, at most 300) and `market/history-candles` (closed only,
at most 100), paged with `after` (older than) and `before` (newer than), a swap's mark
and index candles, `public/funding-rate-history` and its open interest history; errors as
`{"code", "msg", "data"}`, and its rate limit (HTTP 429, code 50011) as the REST failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from local_exchange.exchange import ApiError, FakeExchange, MarketKind
from local_exchange.market import (
    INTERVAL_SECONDS,
    DerivedKind,
    SymbolModel,
    align,
    funding_rate,
    open_interest,
)
from local_exchange.rest import Dialect, Reply, Route

# OKX's bars to the fake market's intervals (UTC-aligned from 6h up).
BARS: Final = {
    "1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "2H": "2h",
    "4H": "4h", "6Hutc": "6h", "12Hutc": "12h", "1Dutc": "1d", "1Wutc": "1w",
}  # fmt: skip
# Periods of a contract's open interest history, and how many samples of each OKX keeps.
OI_PERIODS: Final = {"5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "2H": "2h",
                     "4H": "4h", "6H": "6h", "12H": "12h", "1D": "1d"}  # fmt: skip
OI_KEPT: Final = 1_440
INST_TYPES: Final[dict[str, MarketKind]] = {"SPOT": "spot", "SWAP": "futures"}
OKX_FAILURE: Final = (429, {"code": "50011", "msg": "Too Many Requests", "data": []})


@dataclass(frozen=True, slots=True)
class OkxError(ApiError):
    code: str
    msg: str
    status: int = 400

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": []}


def symbol_of(market: MarketKind, inst: str) -> str | None:
    """The fake's symbol (`BTCUSDT`) of an OKX instrument id of `market`."""
    parts = inst.split("-")
    if market == "spot" and len(parts) == 2 and all(parts):
        return parts[0] + parts[1]
    if market == "futures" and len(parts) == 3 and parts[2] == "SWAP" and parts[0] and parts[1]:
        return parts[0] + parts[1]
    return None


def _inst_id(market: MarketKind, m: SymbolModel) -> str:
    pair = f"{m.base_asset}-{m.quote_asset}"
    return pair if market == "spot" else f"{pair}-SWAP"


def _ok(data: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def _time(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    return _ok([{"ts": str(ex.clock.now_ms())}])


def instruments(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    inst_type = params.get("instType", "")
    if inst_type in ("FUTURES", "OPTION", "MARGIN"):
        return _ok([])
    market = INST_TYPES.get(inst_type)
    if market is None:
        raise OkxError("51000", "Parameter instType error")
    wanted = params.get("instId")
    return _ok([_instrument(market, m, ex.listing_time) for m in ex.models[market].values()
                if wanted is None or _inst_id(market, m) == wanted])  # fmt: skip


def _instrument(market: MarketKind, m: SymbolModel, listing_time: int) -> dict[str, Any]:
    tick = f"{10**-m.decimals:.{m.decimals}f}"
    spot = market == "spot"
    family = f"{m.base_asset}-{m.quote_asset}"
    return {
        "instType": "SPOT" if spot else "SWAP", "instId": _inst_id(market, m),
        "uly": "" if spot else family, "instFamily": "" if spot else family,
        "baseCcy": m.base_asset if spot else "", "quoteCcy": m.quote_asset if spot else "",
        "settleCcy": "" if spot else m.quote_asset, "ctVal": "" if spot else "1",
        "ctMult": "" if spot else "1", "ctValCcy": "" if spot else m.base_asset,
        "ctType": "" if spot else "linear", "optType": "", "stk": "", "alias": "",
        "listTime": str(listing_time * 1000), "expTime": "", "lever": "10" if spot else "100",
        "tickSz": tick, "lotSz": "0.00000001" if spot else "0.001",
        "minSz": "0.00001" if spot else "0.001",
        "state": "live", "ruleType": "normal", "maxLmtSz": "9999999999", "maxMktSz": "1000000",
        "maxLmtAmt": "20000000", "maxMktAmt": "1000000", "maxTwapSz": "9999999999",
        "maxIcebergSz": "9999999999", "maxTriggerSz": "9999999999", "maxStopSz": "1000000",
    }  # fmt: skip


def _int(params: Mapping[str, str], key: str) -> int | None:
    if not params.get(key):
        return None
    try:
        return int(params[key])
    except ValueError:
        raise OkxError("51000", f"Parameter {key} error") from None


def _candles(
    ex: FakeExchange, params: Mapping[str, str], max_limit: int, forming: bool,
    kind: DerivedKind | None = None,
) -> Any:  # fmt: skip
    """`kind`: a swap's mark price candles (by its `instId`) or index candles (by its
    family, `BTC-USDT`): rows of ts, o, h, l, c, confirm."""
    inst = params.get("instId", "")
    if kind == "index":
        inst = f"{inst}-SWAP"
    market: MarketKind = "futures" if inst.endswith("-SWAP") else "spot"
    if kind is not None and market != "futures":
        raise OkxError("51001", "Instrument ID does not exist")
    symbol = symbol_of(market, inst)
    if symbol is None or symbol not in ex.models[market]:
        raise OkxError("51001", "Instrument ID does not exist")
    interval = BARS.get(params.get("bar", "1m"))
    if interval is None:
        raise OkxError("51000", "Parameter bar error")
    limit = max(1, min(_int(params, "limit") or 100, max_limit))
    after, before = _int(params, "after"), _int(params, "before")  # older / newer than, ms
    size = INTERVAL_SECONDS[interval]
    now = int(ex.clock.now())
    last = align(now, interval) if forming else align(now, interval) - size
    if after is not None:
        last = min(last, align(-(-after // 1000) - 1, interval))
    first = align(ex.listing_time, interval) + size
    if before is not None:
        first = max(first, align(before // 1000, interval) + size)
    opens = range(first, last + 1, size)
    rows = []
    for t in reversed(opens[-limit:]):  # the newest of the window, newest first
        k = ex.kline_at(market, symbol, interval, t)
        confirm = "1" if t + size <= now else "0"
        if kind is not None:
            k = ex.models[market][symbol].derived(kind, k)
            rows.append([str(k.open_time_ms), k.open, k.high, k.low, k.close, confirm])
            continue
        rows.append([str(k.open_time_ms), k.open, k.high, k.low, k.close, k.volume, k.volume,
                     k.quote_volume, confirm])  # fmt: skip
    return _ok(rows)


def derived_candles(kind: DerivedKind, *, history: bool) -> Route:
    """`mark-price-candles` and `index-candles` (at most 100 a page), and their history
    forms (closed candles only)."""

    def answer(ex: FakeExchange, params: Mapping[str, str]) -> Any:
        return _candles(ex, params, 100, forming=not history, kind=kind)

    return answer


def _swap(ex: FakeExchange, inst: str) -> SymbolModel:
    symbol = symbol_of("futures", inst)
    if symbol is None or symbol not in ex.models["futures"]:
        raise OkxError("51001", "Instrument ID does not exist")
    return ex.models["futures"][symbol]


def _listed(ex: FakeExchange, params: Mapping[str, str]) -> list[tuple[MarketKind, SymbolModel]]:
    """The instruments an `instId` (or, without one, an `instType`) names."""
    inst = params.get("instId", "")
    if inst:
        market: MarketKind = "futures" if inst.endswith("-SWAP") else "spot"
        symbol = symbol_of(market, inst)
        if symbol is None or symbol not in ex.models[market]:
            raise OkxError("51001", "Instrument ID does not exist")
        return [(market, ex.models[market][symbol])]
    market_of_type = INST_TYPES.get(params.get("instType", ""))
    if market_of_type is None:
        raise OkxError("51000", "Parameter instType error")
    return [(market_of_type, m) for m in ex.models[market_of_type].values()]


def tickers(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """`market/tickers` (by `instType`) and `market/ticker` (by `instId`): the day so far."""
    now = int(ex.clock.now())
    rows = []
    for market, m in _listed(ex, params):
        day = m.kline("1d", align(now, "1d"), until=now)
        rows.append({
            "instType": "SPOT" if market == "spot" else "SWAP", "instId": _inst_id(market, m),
            "last": day.close, "lastSz": "1", "askPx": day.close, "askSz": "1",
            "bidPx": day.close, "bidSz": "1", "open24h": day.open, "high24h": day.high,
            "low24h": day.low, "volCcy24h": day.volume, "vol24h": day.volume,
            "sodUtc0": day.open, "sodUtc8": day.open, "ts": str(ex.clock.now_ms()),
        })  # fmt: skip
    return _ok(rows)


def books(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """`market/books`: `sz` levels a side (default 1, at most 400) around the price now."""
    ((_, m),) = _listed(ex, {"instId": params.get("instId") or "-"})
    size = max(1, min(_int(params, "sz") or 1, 400))
    price = m.price(int(ex.clock.now()))
    tick = 10.0**-m.decimals

    def level(i: int, side: int) -> list[str]:
        return [f"{price + side * (i + 1) * tick:.{m.decimals}f}", "1.000", "0", "1"]

    book = {"asks": [level(i, 1) for i in range(size)],
            "bids": [level(i, -1) for i in range(size)], "ts": str(ex.clock.now_ms())}  # fmt: skip
    return _ok([book])


def funding_rate_now(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """`public/funding-rate`: the rate of the funding to come, and when it comes."""
    inst = params.get("instId", "")
    _swap(ex, inst)
    upcoming = align(int(ex.clock.now()), "8h") + 8 * 3_600
    return _ok([{"instType": "SWAP", "instId": inst, "fundingRate": funding_rate(upcoming),
                 "nextFundingRate": "", "fundingTime": str(upcoming * 1000),
                 "nextFundingTime": str((upcoming + 8 * 3_600) * 1000),
                 "method": "current_period", "ts": str(ex.clock.now_ms())}])  # fmt: skip


def mark_price(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """`public/mark-price`: each swap's mark price now."""
    now = int(ex.clock.now())
    rows = []
    for _, m in _listed(ex, {**params, "instType": "SWAP"}):
        mark = m.derived("mark", m.kline("1m", align(now, "1m"), until=now))
        rows.append({"instType": "SWAP", "instId": _inst_id("futures", m),
                     "markPx": mark.close, "ts": str(ex.clock.now_ms())})  # fmt: skip
    return _ok(rows)


def position_tiers(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """One position tier of each swap of `instFamily` (freqtrade loads them as leverage
    tiers, and cannot backtest a swap without them)."""
    if params.get("instType") != "SWAP":
        raise OkxError("51000", "Parameter instType error")
    family = params.get("instFamily") or params.get("uly") or ""
    return _ok([
        {"tier": "1", "instId": "", "uly": f, "instFamily": f, "minSz": "0", "maxSz": "2000000",
         "mmr": "0.004", "imr": "0.01", "maxLever": "100", "optMgnFactor": "0",
         "baseMaxLoan": "", "quoteMaxLoan": ""}
        for m in ex.models["futures"].values()
        if (f := f"{m.base_asset}-{m.quote_asset}") == family
    ])  # fmt: skip


def funding_rate_history(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """A swap's funding, every 8 hours, newest first: at most `limit` (default and most
    100) with `fundingTime` older than `after` and newer than `before` (ms); OKX keeps
    three months of it. Each row's `fundingRate` and `realizedRate` (what ccxt reads)."""
    inst = params.get("instId", "")
    _swap(ex, inst)
    limit = max(1, min(_int(params, "limit") or 100, 100))
    size = 8 * 3_600
    now = int(ex.clock.now())
    last = align(now, "8h")
    after, before = _int(params, "after"), _int(params, "before")
    if after is not None:
        last = min(last, align(-(-after // 1000) - 1, "8h"))
    first = max(align(ex.listing_time, "8h") + size, last - 90 * 86_400)
    if before is not None:
        first = max(first, align(before // 1000, "8h") + size)
    times = range(first, last + 1, size)
    return _ok([{"instType": "SWAP", "instId": inst, "fundingRate": funding_rate(t),
                 "realizedRate": funding_rate(t), "fundingTime": str(t * 1000),
                 "method": "current_period", "formulaType": "withRate"}
                for t in reversed(times[-limit:])])  # fmt: skip


def open_interest_history(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """`rubik/stat/contracts/open-interest-history`: a swap's open interest each `period`
    (default 5m) within `begin` and `end` (ms, both exclusive), the newest `limit` (default
    and most 100) first, of the newest 1,440 samples OKX keeps; rows of ts, open interest
    in contracts, in the base currency, and in USD."""
    model = _swap(ex, params.get("instId", ""))
    interval = OI_PERIODS.get(params.get("period") or "5m")
    if interval is None:
        raise OkxError("51000", "Parameter period error")
    limit = max(1, min(_int(params, "limit") or 100, 100))
    begin, end = _int(params, "begin"), _int(params, "end")
    size = INTERVAL_SECONDS[interval]
    newest = last = align(int(ex.clock.now()), interval)
    if end is not None:
        last = min(last, align(-(-end // 1000) - 1, interval))
    first = max(align(ex.listing_time, interval) + size, newest - (OI_KEPT - 1) * size)
    if begin is not None:
        first = max(first, align(begin // 1000, interval) + size)
    rows = []
    for t in reversed(range(first, last + 1, size)[-limit:]):
        coins, usd = (repr(float(x)) for x in open_interest(model, t))  # as OKX writes them
        rows.append([str(t * 1000), coins, coins, usd])  # (a contract is one coin here)
    return _ok(rows)


def candles(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    return _candles(ex, params, 300, forming=True)


def history_candles(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    # 300 a page, as OKX answers freqtrade's and ccxt's `limit=300` (its docs say 100).
    return _candles(ex, params, 300, forming=False)


OKX_ROUTES: Final[dict[str, Route]] = {
    "/api/v5/public/time": _time,
    "/api/v5/public/instruments": instruments,
    "/api/v5/market/candles": candles,
    "/api/v5/market/history-candles": history_candles,
    "/api/v5/market/mark-price-candles": derived_candles("mark", history=False),
    "/api/v5/market/history-mark-price-candles": derived_candles("mark", history=True),
    "/api/v5/market/index-candles": derived_candles("index", history=False),
    "/api/v5/market/history-index-candles": derived_candles("index", history=True),
    "/api/v5/public/funding-rate-history": funding_rate_history,
    "/api/v5/public/position-tiers": position_tiers,
    "/api/v5/rubik/stat/contracts/open-interest-history": open_interest_history,
    "/api/v5/public/funding-rate": funding_rate_now,
    "/api/v5/public/mark-price": mark_price,
    "/api/v5/market/tickers": tickers,
    "/api/v5/market/ticker": tickers,
    "/api/v5/market/books": books,
}


def _ban(left_s: float) -> Reply:
    return (*OKX_FAILURE, {})


def _charge(ex: FakeExchange, path: str, params: Mapping[str, str]) -> Reply:
    ex.spend_weight(1)
    return 200, None, {}


OKX_REST: Final = Dialect(OKX_FAILURE, _ban, _charge)
