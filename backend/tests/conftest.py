from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.fake_binance.exchange import FakeExchange
from app.fake_binance.rest import RestServer
from app.fake_binance.server import FakeBinance
from tests.live_support import start_fake
from tests.support import LiveServer, live_server

SettingsFactory = Callable[..., Settings]


@dataclass(frozen=True)
class FakeBinanceRest:
    exchange: FakeExchange
    url: str


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db_path": tmp_path / "store.sqlite",
            "enable_ingest_api": True,
            "enable_debug_api": True,
            "market_history_source": "off",
            "live_ingest": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
async def server(make_settings: SettingsFactory) -> AsyncIterator[LiveServer]:
    async with live_server(make_settings()) as s:
        yield s


@pytest.fixture
def fake_binance() -> Iterator[FakeBinanceRest]:
    exchange = FakeExchange(history_days=3)
    server = RestServer(exchange)
    server.start()
    try:
        yield FakeBinanceRest(exchange, f"http://127.0.0.1:{server.port}")
    finally:
        server.stop()


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    """The local Binance, sped up so a 1m candle closes every real second."""
    exchange = start_fake()
    try:
        yield exchange
    finally:
        exchange.stop()
