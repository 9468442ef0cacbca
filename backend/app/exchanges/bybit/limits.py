"""How Bybit rate-limits a client: a quota per endpoint reported on every answer
(`X-Bapi-Limit-Status` requests left, `X-Bapi-Limit-Reset-Timestamp` in ms), `retCode`
10006 when it is spent (on HTTP 200), and an IP ban answered with HTTP 403."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Requests left in Bybit's window below which this server waits for the window to turn.
MIN_LEFT = 2


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
