"""How OKX rate-limits a client: per endpoint and 2-second window, answered with HTTP 429
and code `50011` ("Too Many Requests"); it reports no quota on its answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_WINDOW_S = 2.0


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
