"""The fake exchange's state, shared by its REST and WebSocket faces: symbols, clock,
history start, and the REST answers as Binance gives them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from local_exchange.binance_limits import LIMITS, BinanceWeights
from local_exchange.clock import ExchangeClock, FakeClock
from local_exchange.market import (
    DEFAULT_FUTURES,
    DEFAULT_SPOT,
    INTERVAL_SECONDS,
    DerivedKind,
    Kline,
    SymbolModel,
    align,
    funding_rate,
    open_interest,
)

MarketKind = Literal["spot", "futures"]

KLINE_LIMITS: dict[MarketKind, tuple[int, int]] = {"spot": (500, 1000), "futures": (500, 1500)}


class ApiError(Exception):
    """An error answer: an HTTP status and a JSON body, in the venue's shape."""

    status: int

    def body(self) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class BinanceError(ApiError):
    """An error answer in Binance's shape: HTTP status plus `{"code", "msg"}`."""

    status: int
    code: int
    msg: str

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def _mandatory(name: str) -> BinanceError:
    return BinanceError(
        400,
        -1102,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


class FakeExchange:
    def __init__(
        self,
        *,
        spot_symbols: Iterable[str] = DEFAULT_SPOT,
        futures_symbols: Iterable[str] = DEFAULT_FUTURES,
        history_days: float = 30.0,
        speed: float = 1.0,
        start: float | None = None,
        clock: ExchangeClock | None = None,
        seed: int = 1,
        binance_weight_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.clock: ExchangeClock = clock or FakeClock(speed, start)
        # Binance's weight per minute on each host, as Binance applies it (429, then 418).
        self.binance_weights = BinanceWeights(self.clock, dict(binance_weight_limits or LIMITS))
        self.models: dict[MarketKind, dict[str, SymbolModel]] = {
            "spot": {s: SymbolModel(s, seed) for s in spot_symbols},
            "futures": {s: SymbolModel(s, seed + 7) for s in futures_symbols},
        }
        self.listing_time = int(self.clock.now() - history_days * 86_400)
        self._lock = threading.Lock()
        self.rest_failures_left = 0
        self.rest_requests = 0
        self.rest_requests_by_path: dict[str, int] = {}
        self._banned_until = 0.0
        self._weight_minute = -1
        self.weight_used = 0
        # Open-time ranges [from, to] with no kline over REST, as after a venue's outage
        # (Binance's klines then skip them; the limit counts the klines that exist).
        self.outages: list[tuple[int, int]] = []

    # -- faults -----------------------------------------------------------------------

    def fail_rest(self, count: int) -> None:
        """Answer the next `count` REST requests with 503, as an overloaded Binance does."""
        with self._lock:
            self.rest_failures_left = count

    def take_rest_failure(self, path: str = "") -> bool:
        with self._lock:
            self.rest_requests += 1
            self.rest_requests_by_path[path] = self.rest_requests_by_path.get(path, 0) + 1
            if self.rest_failures_left > 0:
                self.rest_failures_left -= 1
                return True
            return False

    def ban_rest(self, seconds: float) -> None:
        """Answer every REST request with the venue's ban (Binance 418 with `Retry-After`,
        Bybit 403) for `seconds` of the exchange's clock."""
        with self._lock:
            self._banned_until = self.clock.elapsed() + seconds

    def ban_left(self) -> float:
        """Seconds of a ban still to run (0: none)."""
        return max(0.0, self._banned_until - self.clock.elapsed())

    def spend_weight(self, weight: int) -> int:
        """Binance's request weight of this minute, after spending `weight`."""
        with self._lock:
            minute = int(self.clock.now()) // 60
            if minute != self._weight_minute:
                self._weight_minute, self.weight_used = minute, 0
            self.weight_used += weight
            return self.weight_used

    # -- market data ------------------------------------------------------------------

    def model(self, market: MarketKind, symbol: str | None) -> SymbolModel:
        if not symbol:
            raise _mandatory("symbol")
        found = self.models[market].get(symbol.upper())
        if found is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return found

    def pair_model(self, market: MarketKind, pair: str) -> SymbolModel:
        """The model behind a ccxt pair (`BTC/USDT`, `BTC/USDT:USDT`); this exchange names
        its symbols as Binance and Bybit do, base and quote joined."""
        return self.model(market, pair.split(":", 1)[0].replace("/", ""))

    def kline_at(self, market: MarketKind, symbol: str, interval: str, open_time: int) -> Kline:
        """The kline opening at `open_time`: closed, or forming if it is the current one."""
        now = int(self.clock.now())
        model = self.models[market][symbol]
        if open_time + INTERVAL_SECONDS[interval] > now:
            return model.kline(interval, open_time, until=now)
        return model.kline(interval, open_time)

    def klines(
        self, market: MarketKind, params: Mapping[str, str], derived: DerivedKind | None = None
    ) -> list[list[object]]:
        """Binance's klines of a symbol, or (`derived`, futures) its mark, index or premium
        index price klines."""
        model = self.model(market, params.get("symbol"))
        interval = params.get("interval")
        if not interval:
            raise _mandatory("interval")
        if interval not in INTERVAL_SECONDS:
            raise BinanceError(400, -1120, "Invalid interval.")
        default_limit, max_limit = KLINE_LIMITS[market]
        try:
            limit = int(params.get("limit", default_limit))
            start_ms = int(params["startTime"]) if "startTime" in params else None
            end_ms = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from None
        limit = max(1, min(limit, max_limit))
        size = INTERVAL_SECONDS[interval]
        current = align(int(self.clock.now()), interval)
        first_listed = align(self.listing_time, interval) + size
        last = current if end_ms is None else min(current, align(end_ms // 1000, interval))
        if start_ms is not None:
            start = -(-start_ms // 1000)  # ceil: klines opening at or after startTime
            first = max(first_listed, align(start + size - 1, interval))
            opens = self._existing(range(first, last + 1, size))[:limit]
        else:
            opens = self._existing(range(first_listed, last + 1, size))[-limit:]
        klines = (self.kline_at(market, model.symbol, interval, t) for t in opens)
        if derived is not None:
            return [model.derived(derived, k).rest_row() for k in klines]
        return [k.rest_row() for k in klines]

    def _existing(self, opens: range) -> Sequence[int]:
        if not self.outages:
            return opens
        return [t for t in opens if not any(a <= t <= b for a, b in self.outages)]

    def depth(self, market: MarketKind, params: Mapping[str, str]) -> dict[str, Any]:
        """An order book around the current price: `limit` levels each side (spot up to
        5,000, futures 1,000)."""
        model = self.model(market, params.get("symbol"))
        default, most = (100, 5000) if market == "spot" else (500, 1000)
        try:
            limit = max(1, min(int(params.get("limit", default)), most))
        except ValueError:
            raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from None
        price = model.price(int(self.clock.now()))
        tick = 10.0**-model.decimals
        fmt = f"{{:.{model.decimals}f}}"
        bids = [[fmt.format(price - (i + 1) * tick), "1.000"] for i in range(limit)]
        asks = [[fmt.format(price + (i + 1) * tick), "1.000"] for i in range(limit)]
        book: dict[str, Any] = {"lastUpdateId": self.clock.now_ms(), "bids": bids, "asks": asks}
        if market == "futures":
            book.update(E=self.clock.now_ms(), T=self.clock.now_ms())
        return book

    def tickers(self, market: MarketKind, params: Mapping[str, str], kind: str) -> Any:
        """`ticker/24hr`, `ticker/price` or `ticker/bookTicker` of one symbol or all."""
        symbol = params.get("symbol")
        models = [self.model(market, symbol)] if symbol else list(self.models[market].values())
        now = int(self.clock.now())
        answers = [self._ticker(m, now, kind) for m in models]
        return answers[0] if symbol else answers

    def _ticker(self, m: SymbolModel, now: int, kind: str) -> dict[str, Any]:
        day = m.kline("1d", align(now, "1d"), until=now)
        if kind == "price":
            return {"symbol": m.symbol, "price": day.close, "time": now * 1000}
        tick = 10.0**-m.decimals
        bid = f"{float(day.close) - tick:.{m.decimals}f}"
        if kind == "bookTicker":
            return {"symbol": m.symbol, "bidPrice": bid, "bidQty": "1.000",
                    "askPrice": day.close, "askQty": "1.000", "time": now * 1000}  # fmt: skip
        change = float(day.close) - float(day.open)
        return {
            "symbol": m.symbol, "priceChange": f"{change:.{m.decimals}f}",
            "priceChangePercent": f"{100 * change / float(day.open):.3f}",
            "weightedAvgPrice": day.close, "prevClosePrice": day.open, "lastPrice": day.close,
            "lastQty": "0.001", "bidPrice": bid, "bidQty": "1.000", "askPrice": day.close,
            "askQty": "1.000", "openPrice": day.open, "highPrice": day.high,
            "lowPrice": day.low, "volume": day.volume, "quoteVolume": day.quote_volume,
            "openTime": align(now, "1d") * 1000, "closeTime": now * 1000, "firstId": 1,
            "lastId": day.trades, "count": day.trades,
        }  # fmt: skip

    def funding_rates(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Binance's funding history of a contract, or without `symbol` every contract's
        (the newest `limit` events of them all, oldest first)."""
        symbol = params.get("symbol")
        models = (
            [self.model("futures", symbol)] if symbol else list(self.models["futures"].values())
        )
        try:
            limit = max(1, min(int(params.get("limit", 100)), 1000))
            start_ms = int(params["startTime"]) if "startTime" in params else None
            end_ms = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from None
        size = 8 * 3_600
        last = align(int(self.clock.now()), "8h")
        if end_ms is not None:
            last = min(last, align(end_ms // 1000, "8h"))
        first_listed = align(self.listing_time, "8h") + size
        if start_ms is not None:
            first = max(first_listed, align(-(-start_ms // 1000) + size - 1, "8h"))
            times = range(first, last + 1, size)[:limit]
        else:
            times = range(max(first_listed, last - (limit - 1) * size), last + 1, size)
        # The mark price at funding time: the close of the hour before, as Binance's is.
        rows = [
            {
                "symbol": model.symbol,
                "fundingTime": t * 1000,
                "fundingRate": funding_rate(t),
                "markPrice": _mark_at(model, t),
            }
            for t in times
            for model in models
        ]
        return rows[:limit] if start_ms is not None else rows[-limit:]

    def open_interest_history(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Binance's `futures/data/openInterestHist`: the newest `limit` samples of a period,
        or the oldest from `startTime`, of the last 30 days only."""
        model = self.model("futures", params.get("symbol"))
        period = params.get("period", "")
        if period not in ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"):
            raise BinanceError(400, -1130, "Data sent for parameter 'period' is not valid.")
        try:
            limit = max(1, min(int(params.get("limit", 30)), 500))
            start_ms = int(params["startTime"]) if "startTime" in params else None
            end_ms = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from None
        size = INTERVAL_SECONDS[period]
        now = int(self.clock.now())
        oldest = align(now - 30 * 86_400, period) + size
        if start_ms is not None and start_ms // 1000 < oldest - size:
            raise BinanceError(400, -1130, "parameter 'startTime' is invalid.")
        last = align(now, period)
        if end_ms is not None:
            last = min(last, align(end_ms // 1000, period))
        first_listed = max(oldest, align(self.listing_time, period) + size)
        if start_ms is not None:
            first = max(first_listed, align(-(-start_ms // 1000) + size - 1, period))
            times = range(first, last + 1, size)[:limit]
        else:
            times = range(max(first_listed, last - (limit - 1) * size), last + 1, size)
        rows = []
        for t in times:
            amount, value = open_interest(model, t)
            rows.append({"symbol": model.symbol, "sumOpenInterest": amount,
                         "sumOpenInterestValue": value, "timestamp": t * 1000})  # fmt: skip
        return rows

    def premium_index(self, params: Mapping[str, str]) -> Any:
        now = self.clock.now_ms()

        def entry(model: SymbolModel) -> dict[str, Any]:
            price = f"{model.price(now // 1000):.{model.decimals}f}"
            return {
                "symbol": model.symbol,
                "markPrice": price,
                "indexPrice": price,
                "estimatedSettlePrice": price,
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": (align(now // 1000, "8h") + 8 * 3600) * 1000,
                "time": now,
            }

        symbol = params.get("symbol")
        if symbol:
            return entry(self.model("futures", symbol))
        return [entry(m) for m in self.models["futures"].values()]

    # -- exchangeInfo -----------------------------------------------------------------

    def exchange_info(self, market: MarketKind) -> dict[str, Any]:
        now = self.clock.now_ms()
        limits = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ]
        if market == "spot":
            symbols = [_spot_symbol(m) for m in self.models["spot"].values()]
            return {
                "timezone": "UTC",
                "serverTime": now,
                "rateLimits": limits,
                "exchangeFilters": [],
                "symbols": symbols,
            }
        return {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": limits,
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [
                _futures_symbol(m, self.listing_time) for m in self.models["futures"].values()
            ],
        }


def _tick(model: SymbolModel) -> str:
    return f"{10**-model.decimals:.{model.decimals}f}"


def _spot_symbol(m: SymbolModel) -> dict[str, Any]:
    return {
        "symbol": m.symbol,
        "status": "TRADING",
        "baseAsset": m.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": m.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _tick(m),
                "maxPrice": "1000000.00000000",
                "tickSize": _tick(m),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _futures_symbol(m: SymbolModel, listing_time: int) -> dict[str, Any]:
    return {
        "symbol": m.symbol,
        "pair": m.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": listing_time * 1000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": m.base_asset,
        "quoteAsset": m.quote_asset,
        "marginAsset": m.quote_asset,
        "pricePrecision": m.decimals,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _tick(m),
                "maxPrice": "4529764",
                "tickSize": _tick(m),
            },
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.001",
                "maxQty": "120",
                "stepSize": "0.001",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def _mark_at(model: SymbolModel, t: int) -> str:
    """The contract's mark price at `t` as Binance's funding history states it."""
    return f"{float(model.derived('mark', model.kline('1h', t - 3_600)).close):.8f}"
