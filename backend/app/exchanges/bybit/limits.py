"""How Bybit limits a client: 600 requests in any 5 seconds per IP over its HTTP API (one
pool: every public endpoint counts one request), a quota per endpoint reported on some
answers (`X-Bapi-Limit-Status` requests left, `X-Bapi-Limit-Reset-Timestamp` in ms),
`retCode` 10006 when it is spent (on HTTP 200), and an IP ban answered with HTTP 403."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Final

from app.exchanges.budget import Cost, Pool
from app.exchanges.endpoints import Endpoint, Limit, cost_of_url, endpoint

IP: Final = "ip"
# Requests left in Bybit's window below which this server waits for the window to turn.
MIN_LEFT = 2
_KLINES: Final = "category symbol interval start end limit"

_ep = partial(endpoint, market="spot", pool=IP)  # one host serves every category

ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    "/v5/market/time": _ep("local"),
    "/v5/market/kline": _ep("store", _KLINES, limit=Limit(200, 1000)),
    "/v5/market/instruments-info": _ep(
        "document", "category symbol status baseCoin limit cursor"
    ),
    "/v5/market/tickers": _ep("forwarded", "category symbol baseCoin expDate"),
    # Spot books go to 200 levels, linear ones to 500; without `limit`, Bybit's default
    # of the category (1 or 25).
    "/v5/market/orderbook": _ep(
        "forwarded", "category symbol limit", limit=Limit(25, 500, (1, 25, 50, 200, 500))
    ),
    "/v5/market/funding/history": _ep(
        "store", "category symbol startTime endTime limit", limit=Limit(200, 200)
    ),
    "/v5/market/mark-price-kline": _ep("store", _KLINES, limit=Limit(200, 1000)),
    "/v5/market/index-price-kline": _ep("store", _KLINES, limit=Limit(200, 1000)),
    "/v5/market/premium-index-price-kline": _ep("store", _KLINES, limit=Limit(200, 1000)),
    "/v5/market/risk-limit": _ep("forwarded", "category symbol cursor"),
    "/v5/market/open-interest": _ep(
        "forwarded", "category symbol intervalTime startTime endTime limit cursor",
        limit=Limit(50, 200),
    ),
    "/v5/market/recent-trade": _ep(
        "forwarded", "category symbol baseCoin optionType limit", limit=Limit(60, 1000)
    ),
}  # fmt: skip


def pools(requests_per_5s: float) -> tuple[Pool, ...]:
    """This server's budget on Bybit's IP limit: at most `requests_per_5s` in any 5 s."""
    return (Pool(IP, requests_per_5s, 5.0),)


def cost_of(url: str) -> Cost:
    return cost_of_url(ENDPOINTS, url, lambda path: Cost(IP, 1.0))


@dataclass(frozen=True, slots=True)
class BybitRatePolicy:
    def ban_s(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        # Bybit does not say for how long either lasts (its IP ban: "at least 10 minutes").
        if status == 403 or (status == 200 and b'"retCode":10006' in body.replace(b" ", b"")):
            return 0.0
        return None

    def weight(self, headers: Mapping[str, str]) -> float | None:
        return None  # Bybit reports requests left per endpoint, not a weight

    def budget_wait_s(self, headers: Mapping[str, str], now: float) -> float | None:
        left = headers.get("x-bapi-limit-status")
        try:
            if left is None or int(left) >= MIN_LEFT:
                return None
        except ValueError:
            return None
        try:
            reset_s = int(headers.get("x-bapi-limit-reset-timestamp", "")) / 1000
        except ValueError:
            return 1.0
        return max(0.0, reset_s - now)
