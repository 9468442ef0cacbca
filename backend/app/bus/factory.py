"""Which bus engine a URL names (`TRADE_CANVAS_BUS_URL`).

Each engine is a package beside this module that names its `BusEngine` as `ENGINE`; the
one whose schemes include the URL's is used, so a new engine is a new folder and nothing
here names one."""

from __future__ import annotations

import importlib
import pkgutil

import app.bus
from app.bus.ports import BusEngine, ClusterBus
from app.clock import Clock
from app.errors import BusError
from app.metrics import Metrics
from app.redact import safe_url


def engine_for(url: str) -> BusEngine:
    """The engine speaking `url`'s scheme. Raises `BusError` when none does."""
    scheme = url.split("://", 1)[0].lower()
    for module in pkgutil.iter_modules(app.bus.__path__):
        if not module.ispkg:
            continue
        engine = getattr(importlib.import_module(f"app.bus.{module.name}"), "ENGINE", None)
        if isinstance(engine, BusEngine) and scheme in engine.schemes:
            return engine
    raise BusError(f"no bus engine speaks {safe_url(url)}")


async def connect_bus(
    url: str,
    metrics: Metrics,
    clock: Clock,
    *,
    node: str,
    stream_max: int,
    lease_s: float,
    idle_ttl_s: float,
    state_ttl_s: float,
) -> ClusterBus:
    """The cluster's bus at `url`, connected and publishing. Raises `BusError`."""
    return await engine_for(url).connect(
        url, metrics, clock, node=node, stream_max=stream_max, lease_s=lease_s,
        idle_ttl_s=idle_ttl_s, state_ttl_s=state_ttl_s,
    )  # fmt: skip


async def check_bus(url: str) -> None:
    """Raises `BusError` unless the bus at `url` answers."""
    await engine_for(url).check(url)
