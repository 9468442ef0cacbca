"""Binance's request-weight limits as Binance applies them, for the local Binance: each
endpoint's documented weight, counted per calendar minute on each host (spot `/api`,
USDT-M `/fapi`) against its limit (6,000 and 2,400 per IP); past it a 429 until the minute
turns, and a request during that 429 gets the IP banned with 418, for 2 minutes at first
and twice as long at each repeat, up to 3 days. Both carry `Retry-After` in seconds.

Written from Binance's documentation, not from the server's own table, so a server that
costs a request wrongly is caught here."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from local_exchange.clock import ExchangeClock

LIMITS: Final = {"spot": 6_000, "futures": 2_400}
FIRST_BAN_S: Final = 120.0
LONGEST_BAN_S: Final = 3 * 86_400.0

_KLINES: Final = ((99, 1), (499, 2), (1000, 5), (1500, 10))
# By path: a flat weight, a weight by `limit` (ascending (most, weight), and the limit's
# default), or a weight with and without a symbol.
_BY_LIMIT: Final[Mapping[str, tuple[tuple[tuple[int, int], ...], int]]] = {
    "/api/v3/depth": (((100, 5), (500, 25), (1000, 50), (5000, 250)), 100),
    "/fapi/v1/depth": (((50, 2), (100, 5), (500, 10), (1000, 20)), 500),
    "/fapi/v1/klines": (_KLINES, 500),
    "/fapi/v1/continuousKlines": (_KLINES, 500),
    "/fapi/v1/markPriceKlines": (_KLINES, 500),
    "/fapi/v1/indexPriceKlines": (_KLINES, 500),
    "/fapi/v1/premiumIndexKlines": (_KLINES, 500),
}
_BY_SYMBOL: Final[Mapping[str, tuple[int, int]]] = {
    "/api/v3/ticker/24hr": (2, 80),
    "/api/v3/ticker/price": (2, 4),
    "/api/v3/ticker/bookTicker": (2, 4),
    "/fapi/v1/ticker/24hr": (1, 40),
    "/fapi/v1/ticker/price": (1, 2),
    "/fapi/v2/ticker/price": (1, 2),
    "/fapi/v1/ticker/bookTicker": (2, 5),
    "/fapi/v1/premiumIndex": (1, 10),
}
_FLAT: Final[Mapping[str, int]] = {
    "/api/v3/klines": 2,
    "/api/v3/uiKlines": 2,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/avgPrice": 2,
}


def weight_of(path: str, params: Mapping[str, str]) -> int:
    if path in _BY_LIMIT:
        tiers, default = _BY_LIMIT[path]
        raw = params.get("limit", "")
        limit = int(raw) if raw.isdigit() else default
        return next((w for most, w in tiers if limit <= most), tiers[-1][1])
    if path in _BY_SYMBOL:
        with_symbol, without = _BY_SYMBOL[path]
        return with_symbol if params.get("symbol") else without
    return _FLAT.get(path, 1)


@dataclass(slots=True)
class _Host:
    limit: int
    minute: int = -1
    used: int = 0
    refused_until: float = 0.0  # a 429 was answered: asking before this is banned
    banned_until: float = 0.0


@dataclass
class BinanceWeights:
    """Thread-safe: the local REST server answers on many threads."""

    clock: ExchangeClock
    limits: Mapping[str, int] = field(default_factory=lambda: dict(LIMITS))
    answered: Counter[int] = field(default_factory=Counter)  # by status: 200, 429, 418
    weight_sent: Counter[str] = field(default_factory=Counter)  # by host, all minutes
    bans: int = 0
    # Weight used per host and minute (epoch minute), every minute kept.
    per_minute: dict[str, dict[int, int]] = field(default_factory=dict)
    _hosts: dict[str, _Host] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self, path: str, params: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        """Spend the request's weight: (200, None, headers) when it may be answered, else
        Binance's refusal (status, body, headers)."""
        market = "futures" if path.startswith("/fapi/") else "spot"
        weight = weight_of(path, params)
        now = self.clock.now()
        with self._lock:
            host = self._hosts.setdefault(market, _Host(self.limits[market]))
            minute = int(now // 60)
            if minute != host.minute:
                host.minute, host.used = minute, 0
            if host.banned_until > now:
                return self._refuse(418, host.banned_until - now, "IP banned until later.")
            if host.refused_until > now:
                self.bans += 1
                ban_s = min(LONGEST_BAN_S, FIRST_BAN_S * 2 ** (self.bans - 1))
                host.banned_until = now + ban_s
                return self._refuse(418, ban_s, "Way too much request weight used; IP banned.")
            if host.used + weight > host.limit:
                host.refused_until = (minute + 1) * 60
                message = (f"Too much request weight used; current limit is {host.limit} "
                           "request weight per 1 MINUTE.")  # fmt: skip
                return self._refuse(429, host.refused_until - now, message)
            host.used += weight
            self.weight_sent[market] += weight
            self.per_minute.setdefault(market, {})[minute] = host.used
            self.answered[200] += 1
            return 200, None, {"X-MBX-USED-WEIGHT-1M": str(host.used)}

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "limits": dict(self.limits),
                "answered": {str(k): v for k, v in self.answered.items()},
                "per_minute": {m: {str(k): v for k, v in sorted(used.items())}
                               for m, used in self.per_minute.items()},
            }  # fmt: skip

    def _refuse(self, status: int, left_s: float, message: str) -> tuple[int, Any, dict[str, str]]:
        self.answered[status] += 1
        body = {"code": -1003, "msg": message}
        return status, body, {"Retry-After": str(max(1, round(left_s)))}
