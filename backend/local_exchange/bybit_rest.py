"""Bybit's v5 market-data REST answers for the fake exchange: `/v5/market/time`,
`instruments-info`, `kline` (newest-first rows of strings, at most 1000, `start`/`end`),
`mark-price-kline`, `funding/history`, `tickers` and `risk-limit`, with `retCode` errors
on HTTP 200 as Bybit gives them, and its 403 rate-limit ban as the REST failure fault."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from local_exchange.exchange import ApiError, FakeExchange, MarketKind
from local_exchange.market import (
    INTERVAL_SECONDS,
    DerivedKind,
    Kline,
    SymbolModel,
    align,
    funding_rate,
    open_interest,
)
from local_exchange.rest import Dialect, Reply, Route

# Bybit's interval names to the fake market's.
_OI_INTERVALS: Final = {"5min": "5m", "15min": "15m", "30min": "30m", "1h": "1h", "4h": "4h",
                        "1d": "1d"}  # fmt: skip
INTERVALS: Final = {
    "1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
    "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w",
}  # fmt: skip
CATEGORIES: Final[dict[str, MarketKind]] = {"spot": "spot", "linear": "futures"}
# Bybit bans an IP that asks too often: HTTP 403, for 10 minutes.
BYBIT_FAILURE: Final = (403, "403 Forbidden: access too frequent")
# Requests per endpoint and window Bybit reports on every answer (`X-Bapi-Limit*`).
LIMIT_PER_WINDOW: Final = 600


@dataclass(frozen=True, slots=True)
class BybitError(ApiError):
    code: int
    msg: str
    status: int = 200  # Bybit answers its API errors with HTTP 200

    def body(self) -> dict[str, Any]:
        return {"retCode": self.code, "retMsg": self.msg, "result": {}, "retExtInfo": {},
                "time": 0}  # fmt: skip


def _ok(ex: FakeExchange, result: Any) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
            "time": ex.clock.now_ms()}  # fmt: skip


def _category(params: Mapping[str, str], allowed: tuple[str, ...]) -> MarketKind:
    category = params.get("category", "")
    if category not in allowed:
        raise BybitError(10001, f"params error: category {category!r} is not supported")
    return CATEGORIES[category]


def _model(ex: FakeExchange, market: MarketKind, params: Mapping[str, str]) -> SymbolModel:
    found = ex.models[market].get(params.get("symbol", "").upper())
    if found is None:
        raise BybitError(10001, "params error: Symbol Is Invalid")
    return found


def _int(params: Mapping[str, str], key: str, default: int | None) -> int | None:
    if key not in params:
        return default
    try:
        return int(params[key])
    except ValueError:
        raise BybitError(10001, f"params error: {key} must be an integer") from None


def _opens(ex: FakeExchange, params: Mapping[str, str], interval: str, max_limit: int) -> range:
    """Open times of the candles asked for, ascending: the oldest `limit` from `start`, or
    the newest `limit` up to `end` (or the present)."""
    limit = max(1, min(_int(params, "limit", 200) or 200, max_limit))
    start_ms, end_ms = _int(params, "start", None), _int(params, "end", None)
    size = INTERVAL_SECONDS[interval]
    current = align(int(ex.clock.now()), interval)
    first = align(ex.listing_time, interval) + size
    last = current if end_ms is None else min(current, align(end_ms // 1000, interval))
    if start_ms is not None:
        first = max(first, align(-(-start_ms // 1000) + size - 1, interval))
        if end_ms is None:
            return range(first, last + 1, size)[:limit]
    return range(max(first, last - (limit - 1) * size), last + 1, size)


def _interval(params: Mapping[str, str]) -> str:
    interval = INTERVALS.get(params.get("interval", ""))
    if interval is None:
        raise BybitError(10001, "params error: invalid interval")
    return interval


def klines(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    market = _category(params, ("spot", "linear"))
    model = _model(ex, market, params)
    interval = _interval(params)
    rows = [_row(ex.kline_at(market, model.symbol, interval, t))
            for t in _opens(ex, params, interval, 1000)]  # fmt: skip
    return _ok(ex, {"symbol": model.symbol, "category": params["category"],
                    "list": rows[::-1]})  # fmt: skip


def derived_klines(kind: DerivedKind) -> Route:
    """`mark-price-kline`, `index-price-kline`, `premium-index-price-kline`: the contract's
    `kind` prices, rows of start, open, high, low, close (no volume), newest first."""

    def answer(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
        model = _model(ex, _category(params, ("linear",)), params)
        interval = _interval(params)
        rows = [_row(model.derived(kind, ex.kline_at("futures", model.symbol, interval, t)))[:5]
                for t in _opens(ex, params, interval, 1000)]  # fmt: skip
        return _ok(ex, {"symbol": model.symbol, "category": "linear", "list": rows[::-1]})

    return answer


def open_interest_history(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    """`open-interest`: the amount only (Bybit reports no value on linear contracts),
    newest first, at most 200, by `intervalTime`."""
    model = _model(ex, _category(params, ("linear",)), params)
    interval = _OI_INTERVALS.get(params.get("intervalTime", ""))
    if interval is None:
        raise BybitError(10001, "params error: intervalTime invalid")
    limit = max(1, min(_int(params, "limit", 50) or 50, 200))
    size = INTERVAL_SECONDS[interval]
    end_ms, start_ms = _int(params, "endTime", None), _int(params, "startTime", None)
    last = align(int(ex.clock.now()), interval)
    if end_ms is not None:
        last = min(last, align(end_ms // 1000, interval))
    first = align(ex.listing_time, interval) + size
    if start_ms is not None:
        first = max(first, align(-(-start_ms // 1000) + size - 1, interval))
    times = range(max(first, last - (limit - 1) * size), last + 1, size)
    entries = [{"openInterest": open_interest(model, t)[0], "timestamp": str(t * 1000)}
               for t in reversed(times)]  # fmt: skip
    return _ok(ex, {"category": "linear", "symbol": model.symbol, "list": entries,
                    "nextPageCursor": ""})  # fmt: skip


def funding_history(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    model = _model(ex, _category(params, ("linear",)), params)
    limit = max(1, min(_int(params, "limit", 200) or 200, 200))
    size = 8 * 3_600
    end_ms = _int(params, "endTime", None)
    last = align(int(ex.clock.now()), "8h")
    if end_ms is not None:
        last = min(last, align(end_ms // 1000, "8h"))
    first = align(ex.listing_time, "8h") + size
    start_ms = _int(params, "startTime", None)
    if start_ms is not None:
        first = max(first, align(-(-start_ms // 1000) + size - 1, "8h"))
    times = range(max(first, last - (limit - 1) * size), last + 1, size)
    entries = [{"symbol": model.symbol, "fundingRate": funding_rate(t),
                "fundingRateTimestamp": str(t * 1000)} for t in reversed(times)]  # fmt: skip
    return _ok(ex, {"category": "linear", "list": entries})


def tickers(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    market = _category(params, ("spot", "linear"))
    now = int(ex.clock.now())
    models = [_model(ex, market, params)] if params.get("symbol") else ex.models[market].values()
    entries = []
    for m in models:
        day = m.kline("1d", align(now, "1d"), until=now)
        entries.append({"symbol": m.symbol, "lastPrice": day.close, "highPrice24h": day.high,
                        "lowPrice24h": day.low, "prevPrice24h": day.open,
                        "volume24h": day.volume, "turnover24h": day.quote_volume,
                        "bid1Price": day.close, "ask1Price": day.close})  # fmt: skip
    return _ok(ex, {"category": params["category"], "list": entries})


def instruments(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    category = params.get("category", "")
    if category not in CATEGORIES:  # inverse and option: nothing listed here
        if category in ("inverse", "option"):
            return _ok(ex, {"category": category, "list": [], "nextPageCursor": ""})
        raise BybitError(10001, f"params error: category {category!r} is not supported")
    market = CATEGORIES[category]
    symbol = params.get("symbol", "").upper()
    models = [m for s, m in ex.models[market].items() if not symbol or s == symbol]
    entry = _spot_instrument if market == "spot" else _linear_instrument
    return _ok(ex, {"category": category, "list": [entry(m, ex.listing_time) for m in models],
                    "nextPageCursor": ""})  # fmt: skip


def _tick(model: SymbolModel) -> str:
    return f"{10**-model.decimals:.{model.decimals}f}"


def _spot_instrument(m: SymbolModel, listing_time: int) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "baseCoin": m.base_asset, "quoteCoin": m.quote_asset,
        "innovation": "0", "status": "Trading", "marginTrading": "both", "stTag": "0",
        "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                          "minOrderQty": "0.000048", "maxOrderQty": "71.73956243",
                          "minOrderAmt": "1", "maxOrderAmt": "2000000"},
        "priceFilter": {"tickSize": _tick(m)},
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
    }  # fmt: skip


def _linear_instrument(m: SymbolModel, listing_time: int) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": m.base_asset, "quoteCoin": m.quote_asset, "settleCoin": m.quote_asset,
        "launchTime": str(listing_time * 1000), "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(m.decimals),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": _tick(m), "maxPrice": "1999999.80", "tickSize": _tick(m)},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001",
                          "qtyStep": "0.001", "postOnlyMaxOrderQty": "1190.000",
                          "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
        "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375", "isPreListing": False,
    }  # fmt: skip


def risk_limits(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    """One risk tier per linear symbol (freqtrade loads them as leverage tiers)."""
    _category(params, ("linear",))
    symbol = params.get("symbol", "").upper()
    tiers = [
        {"id": 1, "symbol": s, "riskLimitValue": "2000000", "maintenanceMargin": "0.005",
         "initialMargin": "0.01", "isLowestRisk": 1, "maxLeverage": "100.00",
         "mmDeduction": "0"}
        for s in ex.models["futures"] if not symbol or s == symbol
    ]  # fmt: skip
    return _ok(ex, {"category": "linear", "list": tiers, "nextPageCursor": ""})


def orderbook(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    market = _category(params, ("spot", "linear"))
    model = _model(ex, market, params)
    limit = max(1, min(_int(params, "limit", 25) or 25, 200))
    price = model.price(int(ex.clock.now()))
    tick = 10.0**-model.decimals

    def level(i: int, side: int) -> list[str]:
        return [f"{price + side * (i + 1) * tick:.{model.decimals}f}", "1.000"]

    return _ok(ex, {"s": model.symbol, "b": [level(i, -1) for i in range(limit)],
                    "a": [level(i, 1) for i in range(limit)], "ts": ex.clock.now_ms(),
                    "u": ex.clock.now_ms(), "seq": ex.clock.now_ms(),
                    "cts": ex.clock.now_ms()})  # fmt: skip


def _row(k: Kline) -> list[str]:
    """Bybit's kline row: start, open, high, low, close, volume, turnover, all strings."""
    return [str(k.open_time_ms), k.open, k.high, k.low, k.close, k.volume, k.quote_volume]


def _time(ex: FakeExchange, params: Mapping[str, str]) -> dict[str, Any]:
    now_ms = ex.clock.now_ms()
    return _ok(ex, {"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)})


BYBIT_ROUTES: Final[dict[str, Route]] = {
    "/v5/market/time": _time,
    "/v5/market/instruments-info": instruments,
    "/v5/market/kline": klines,
    "/v5/market/mark-price-kline": derived_klines("mark"),
    "/v5/market/index-price-kline": derived_klines("index"),
    "/v5/market/premium-index-price-kline": derived_klines("premiumIndex"),
    "/v5/market/open-interest": open_interest_history,
    "/v5/market/funding/history": funding_history,
    "/v5/market/tickers": tickers,
    "/v5/market/risk-limit": risk_limits,
    "/v5/market/orderbook": orderbook,
}


def _ban(left_s: float) -> Reply:
    return (*BYBIT_FAILURE, {})  # Bybit says nothing of how long


def _charge(ex: FakeExchange, path: str, params: Mapping[str, str]) -> Reply:
    window_ms = 5_000
    reset = (ex.clock.now_ms() // window_ms + 1) * window_ms
    used = ex.spend_weight(1)
    return (
        200,
        None,
        {
            "X-Bapi-Limit": str(LIMIT_PER_WINDOW),
            "X-Bapi-Limit-Status": str(max(0, LIMIT_PER_WINDOW - used)),
            "X-Bapi-Limit-Reset-Timestamp": str(reset),
        },
    )


BYBIT_REST: Final = Dialect(BYBIT_FAILURE, _ban, _charge)
