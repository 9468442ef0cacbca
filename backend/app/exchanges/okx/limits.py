"""How OKX limits a client: per endpoint, a number of requests in any 2 seconds per IP (its
documentation gives each; this server keeps to a share of it), answered with HTTP 429 and
code `50011` ("Too Many Requests") when exceeded; it reports no quota on its answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from app.exchanges.budget import Cost, Pool
from app.exchanges.endpoints import Endpoint, Limit, Served, cost_of_url, endpoint

_WINDOW_S = 2.0
_CANDLES: Final = "instId bar after before limit"
_INSTRUMENTS: Final = "instType uly instFamily instId"


def _ep(
    path: str, served: Served, params: str = "", limit: Limit | None = None
) -> tuple[str, Endpoint]:
    # Each endpoint is a pool of its own, named by its path; one host serves every market.
    return path, endpoint(served, params, market="spot", pool=path, limit=limit)


ENDPOINTS: Final[Mapping[str, Endpoint]] = dict([
    _ep("/api/v5/public/time", "local"),
    _ep("/api/v5/market/candles", "store", _CANDLES),
    _ep("/api/v5/market/history-candles", "store", _CANDLES),
    _ep("/api/v5/public/instruments", "document", _INSTRUMENTS),
    _ep("/api/v5/market/ticker", "forwarded", "instId"),
    _ep("/api/v5/market/tickers", "forwarded", "instType uly instFamily"),
    _ep("/api/v5/market/books", "forwarded", "instId sz",
        limit=Limit(1, 400, (1, 5, 25, 100, 400), name="sz")),
    _ep("/api/v5/market/trades", "forwarded", "instId limit", limit=Limit(100, 500)),
    _ep("/api/v5/market/index-tickers", "forwarded", "quoteCcy instId"),
    _ep("/api/v5/market/mark-price-candles", "store", _CANDLES, limit=Limit(100, 100)),
    _ep("/api/v5/market/history-mark-price-candles", "store", _CANDLES, limit=Limit(100, 100)),
    _ep("/api/v5/market/index-candles", "store", _CANDLES, limit=Limit(100, 100)),
    _ep("/api/v5/market/history-index-candles", "store", _CANDLES, limit=Limit(100, 100)),
    _ep("/api/v5/public/funding-rate", "forwarded", "instId"),
    _ep("/api/v5/public/funding-rate-history", "forwarded", "instId before after limit",
        limit=Limit(100, 400)),
    _ep("/api/v5/public/mark-price", "forwarded", _INSTRUMENTS),
    _ep("/api/v5/public/open-interest", "forwarded", _INSTRUMENTS),
    _ep("/api/v5/public/price-limit", "forwarded", "instId"),
    # A swap's leverage tiers: freqtrade's futures bot and backtest load them.
    _ep("/api/v5/public/position-tiers", "forwarded", "instType tdMode instFamily uly instId"),
    _ep("/api/v5/rubik/stat/contracts/open-interest-history", "store",
        "instId period begin end limit", limit=Limit(100, 100)),
])  # fmt: skip

# Requests per 2 s per IP, as OKX documents them; endpoints not listed here, 20.
DOCUMENTED_PER_2S: Final[Mapping[str, int]] = {
    "/api/v5/public/time": 10,
    "/api/v5/market/candles": 40,
    "/api/v5/market/books": 40,
    "/api/v5/market/trades": 100,
    "/api/v5/public/funding-rate": 10,
    "/api/v5/public/funding-rate-history": 10,
    "/api/v5/public/mark-price": 10,
    "/api/v5/rubik/stat/contracts/open-interest-history": 5,
}
_OTHER: Final = "other"


def pools(share: float) -> tuple[Pool, ...]:
    """This server's budget on each endpoint: `share` of what OKX allows an IP."""
    return tuple(
        Pool(path, max(1.0, share * DOCUMENTED_PER_2S.get(path, 20)), _WINDOW_S)
        for path in (*ENDPOINTS, _OTHER)
    )


def cost_of(url: str) -> Cost:
    return cost_of_url(ENDPOINTS, url, lambda path: Cost(_OTHER, 1.0))


@dataclass(frozen=True, slots=True)
class OkxRatePolicy:
    def ban_s(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        if status == 429 or b'"code":"50011"' in body.replace(b" ", b""):
            return _WINDOW_S
        return None

    def weight(self, headers: Mapping[str, str]) -> float | None:
        return None

    def budget_wait_s(self, headers: Mapping[str, str], now: float) -> float | None:
        return None
