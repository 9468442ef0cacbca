"""How Binance rate-limits a client: request weight per minute, reported on every answer
(`X-MBX-USED-WEIGHT-1M`), and bans: 429 (too much weight) and 418 (banned for repeating
it), both with `Retry-After` in seconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
