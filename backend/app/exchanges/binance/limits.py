"""How Binance limits a client: request weight per calendar minute per IP, counted apart on
the spot host (`/api/v3`, 6,000) and the USDT-M one (`/fapi`, 2,400), each endpoint's
weight as its documentation gives it (depth and futures klines by `limit`, tickers more
without a symbol), reported on every answer (`X-MBX-USED-WEIGHT-1M`); a 429 when the
minute's weight is spent, and 418 (an IP ban of 2 minutes up to 3 days) for asking again
during it, both with `Retry-After` in seconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Final

from app.exchanges.budget import Cost, Pool
from app.exchanges.endpoints import Endpoint, Limit, cost_of_url, endpoint

SPOT: Final = "spot"  # the pools: one per host
FUTURES: Final = "futures"
_KLINES_BY_LIMIT: Final = ((99, 1.0), (499, 2.0), (1000, 5.0), (1500, 10.0))
_SPOT_KLINES: Final = "symbol interval startTime endTime timeZone limit"
_MARK_KLINES: Final = Limit(500, 1500)


_spot = partial(endpoint, market="spot", pool=SPOT)
_futures = partial(endpoint, market="futures", pool=FUTURES)


ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    "/api/v3/ping": _spot("local"),
    "/api/v3/time": _spot("local"),
    "/api/v3/exchangeInfo": _spot(
        "document", "symbol symbols permissions showPermissionSets symbolStatus", 20.0
    ),
    "/api/v3/klines": _spot("store", _SPOT_KLINES, 2.0),
    "/api/v3/uiKlines": _spot("store", _SPOT_KLINES, 2.0),
    "/api/v3/depth": _spot(
        "forwarded", "symbol limit symbolStatus",
        by_limit=((100, 5.0), (500, 25.0), (1000, 50.0), (5000, 250.0)),
        limit=Limit(100, 5000, (100, 500, 1000, 5000)),
    ),
    "/api/v3/ticker/24hr": _spot("forwarded", "symbol symbols type symbolStatus", 2.0,
                                 without_symbol=80.0),
    "/api/v3/ticker/price": _spot("forwarded", "symbol symbols symbolStatus", 2.0,
                                  without_symbol=4.0),
    "/api/v3/ticker/bookTicker": _spot("forwarded", "symbol symbols symbolStatus", 2.0,
                                       without_symbol=4.0),
    "/api/v3/avgPrice": _spot("forwarded", "symbol", 2.0),
    "/fapi/v1/ping": _futures("local"),
    "/fapi/v1/time": _futures("local"),
    "/fapi/v1/exchangeInfo": _futures("document"),
    "/fapi/v1/klines": _futures("store", "symbol interval startTime endTime limit",
                                by_limit=_KLINES_BY_LIMIT, limit=Limit(500, 1500)),
    "/fapi/v1/depth": _futures(
        "forwarded", "symbol limit",
        by_limit=((50, 2.0), (100, 5.0), (500, 10.0), (1000, 20.0)),
        limit=Limit(500, 1000, (5, 10, 20, 50, 100, 500, 1000)),
    ),
    "/fapi/v1/ticker/24hr": _futures("forwarded", "symbol", without_symbol=40.0),
    "/fapi/v1/ticker/price": _futures("forwarded", "symbol", without_symbol=2.0),
    "/fapi/v2/ticker/price": _futures("forwarded", "symbol", without_symbol=2.0),
    "/fapi/v1/ticker/bookTicker": _futures("forwarded", "symbol", 2.0, without_symbol=5.0),
    "/fapi/v1/premiumIndex": _futures("forwarded", "symbol", without_symbol=10.0),
    "/fapi/v1/fundingRate": _futures("store", "symbol startTime endTime limit",
                                     limit=Limit(100, 1000)),
    "/fapi/v1/fundingInfo": _futures("forwarded"),
    "/fapi/v1/openInterest": _futures("forwarded", "symbol"),
    "/futures/data/openInterestHist": _futures("store", "symbol period limit startTime endTime",
                                               limit=Limit(30, 500)),
    "/fapi/v1/markPriceKlines": _futures("store", "symbol interval startTime endTime limit",
                                         by_limit=_KLINES_BY_LIMIT, limit=_MARK_KLINES),
    "/fapi/v1/indexPriceKlines": _futures("store", "pair interval startTime endTime limit",
                                          by_limit=_KLINES_BY_LIMIT, limit=_MARK_KLINES),
    "/fapi/v1/premiumIndexKlines": _futures(
        "store", "symbol interval startTime endTime limit",
        by_limit=_KLINES_BY_LIMIT, limit=_MARK_KLINES,
    ),
    "/fapi/v1/continuousKlines": _futures(
        "forwarded", "pair contractType interval startTime endTime limit",
        by_limit=_KLINES_BY_LIMIT, limit=_MARK_KLINES,
    ),
}  # fmt: skip


def pools(weight_per_min: float) -> tuple[Pool, ...]:
    """This server's budget on each host: at most `weight_per_min` per calendar minute."""
    return (Pool(SPOT, weight_per_min, 60.0, aligned=True),
            Pool(FUTURES, weight_per_min, 60.0, aligned=True))  # fmt: skip


def cost_of(url: str) -> Cost:
    """The weight of a request this server sends to Binance."""
    return cost_of_url(ENDPOINTS, url, _unlisted)


def _unlisted(path: str) -> Cost:
    return Cost(FUTURES if "/fapi/" in path else SPOT, 1.0)


@dataclass(frozen=True, slots=True)
class BinanceRatePolicy:
    weight_budget_per_min: float

    def ban_s(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        if status not in (418, 429):
            return None
        return _seconds(headers.get("retry-after"))

    def weight(self, headers: Mapping[str, str]) -> float | None:
        used = headers.get("x-mbx-used-weight-1m")
        try:
            return float(used) if used is not None else None
        except ValueError:
            return None

    def budget_wait_s(self, headers: Mapping[str, str], now: float) -> float | None:
        used = self.weight(headers)
        if used is None or used < self.weight_budget_per_min:
            return None
        return 60.0 - now % 60.0  # Binance's weight window is the calendar minute


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except ValueError:
        return 0.0
