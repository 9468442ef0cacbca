"""Shared fixtures, and the markers of what a test needs beyond Python (see
docs/development.md): `postgres`, `redis`, `bots` (real freqtrade bots) and `prometheus`
(Prometheus and promtool)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings, VenueSettings
from local_exchange.bybit_rest import BYBIT_REST, BYBIT_ROUTES
from local_exchange.exchange import FakeExchange
from local_exchange.okx_rest import OKX_REST, OKX_ROUTES
from local_exchange.rest import RestServer
from local_exchange.server import FakeBinance
from tests.live_support import start_fake
from tests.postgres_cluster import create_database, drop_database, postgres_cluster
from tests.redis_server import RedisServer, redis_server
from tests.support import LiveServer, live_server

SettingsFactory = Callable[..., Settings]


@dataclass(frozen=True)
class FakeRest:
    """A local exchange's REST face alone: its market model and base URL."""

    exchange: FakeExchange
    url: str


# A test that asks for one of these fixtures needs what its marker names.
_MARKED_BY_FIXTURE = {
    "postgres_dsn": "postgres", "postgres_server": "postgres", "redis": "redis",
    "prometheus_tools": "prometheus",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        marks = {mark for name, mark in _MARKED_BY_FIXTURE.items() if name in used}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("store_engine") == "postgres":
            marks.add("postgres")
        for mark in sorted(marks):
            item.add_marker(mark)


@dataclass(frozen=True, slots=True)
class PrometheusTools:
    prometheus: str
    promtool: str


@pytest.fixture(scope="session")
def prometheus_tools() -> PrometheusTools:
    """Debian's Prometheus and promtool (scripts/setup.sh --browser installs them)."""
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    assert not missing, f"{missing} not installed: scripts/setup.sh --browser installs them"
    return PrometheusTools(str(found["prometheus"]), str(found["promtool"]))


@pytest.fixture
def store_engine() -> str:
    """The store the tests' servers use; a module that runs on both overrides this with
    `params=STORE_ENGINES`."""
    return "sqlite"


STORE_ENGINES = ["sqlite", "postgres"]


@pytest.fixture
def make_settings(
    tmp_path: Path, store_engine: str, request: pytest.FixtureRequest
) -> SettingsFactory:
    store_url = request.getfixturevalue("postgres_dsn") if store_engine == "postgres" else None

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db_path": tmp_path / "store.sqlite",
            "store_url": store_url,
            "enable_ingest_api": True,
            "enable_debug_api": True,
            "market_history_source": "off",
            "live_ingest": False,
            # No test reaches a real exchange: every venue is a closed loopback port unless
            # the test points it at a local exchange.
            **_closed_venue_urls(),
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
async def server(make_settings: SettingsFactory) -> AsyncIterator[LiveServer]:
    async with live_server(make_settings()) as s:
        yield s


def _closed_venue_urls() -> dict[str, str]:
    """Every registered venue's URL settings (`okx_rest_url`, `bybit_spot_ws_url`...) at a
    closed loopback port."""
    return {
        f"{name}_{field}": "ws://127.0.0.1:9" if field.endswith("ws_url") else "http://127.0.0.1:9"
        for name, group in Settings.groups().items()
        if issubclass(group, VenueSettings)
        for field in group.model_fields
        if field.endswith("_url")
    }


def _rest_face(**server_kw: Any) -> Iterator[FakeRest]:
    exchange = FakeExchange(history_days=3)
    server = RestServer(exchange, **server_kw)
    server.start()
    try:
        yield FakeRest(exchange, f"http://127.0.0.1:{server.port}")
    finally:
        server.stop()


@pytest.fixture
def fake_bybit() -> Iterator[FakeRest]:
    """The local Bybit's REST face (v5 market endpoints) alone."""
    yield from _rest_face(routes=BYBIT_ROUTES, dialect=BYBIT_REST)


@pytest.fixture
def fake_okx() -> Iterator[FakeRest]:
    """The local OKX's REST face (v5 public and market endpoints) alone."""
    yield from _rest_face(routes=OKX_ROUTES, dialect=OKX_REST)


@pytest.fixture
def fake_binance() -> Iterator[FakeRest]:
    yield from _rest_face()


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    """The local Binance on a stepped clock (serve it with `live_support.serving`)."""
    exchange = start_fake(stepped=True)
    try:
        yield exchange
    finally:
        exchange.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One throwaway PostgreSQL cluster for the whole run (started on first use)."""
    with postgres_cluster() as dsn:
        yield dsn


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database of its own for one test."""
    name = f"test_{next(_databases)}"
    create_database(postgres_server, name)
    yield postgres_server.replace("/postgres?", f"/{name}?")
    drop_database(postgres_server, name)


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A throwaway redis-server of its own for one test (a unix socket only)."""
    with redis_server() as server:
        yield server
