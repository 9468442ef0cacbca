"""The local exchanges by venue name: what `trade-canvas fake-<venue>` runs (its first
default port) and which series the offline demo serves from each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from local_exchange.exchange import FakeExchange
from local_exchange.server import FakeBinance, FakeBybit, FakeOkx, FakeVenue


@dataclass(frozen=True, slots=True)
class LocalVenue:
    # (exchange, *, host, rest_port, spot_ws_port, futures_ws_port, limits) -> FakeVenue
    server: Callable[..., FakeVenue]
    first_port: int  # REST; the WebSocket servers take the ports after it
    demo_series: tuple[str, ...]
    seed: int  # each venue's prices differ from the others'


LOCAL_VENUES: Final[dict[str, LocalVenue]] = {
    "binance": LocalVenue(
        FakeBinance, 9100,
        ("binance:spot:BTC/USDT:1m", "binance:spot:ETH/USDT:1m",
         "binance:futures:BTC/USDT:USDT:1m"),
        seed=1,
    ),
    "bybit": LocalVenue(
        FakeBybit, 9110, ("bybit:spot:BTC/USDT:1m", "bybit:futures:ETH/USDT:USDT:1m"), seed=2
    ),
    "okx": LocalVenue(
        FakeOkx, 9120, ("okx:spot:BTC/USDT:1m", "okx:futures:BTC/USDT:USDT:1m"), seed=3
    ),
}  # fmt: skip


def demo_whitelist() -> list[str]:
    return [s for venue in LOCAL_VENUES.values() for s in venue.demo_series]


def start_demo_exchanges(history_days: float = 30) -> list[FakeVenue]:
    return [
        venue.server(FakeExchange(history_days=history_days, seed=venue.seed)).start()
        for venue in LOCAL_VENUES.values()
    ]
