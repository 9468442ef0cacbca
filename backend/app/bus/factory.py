"""Which bus engine a URL names (`TRADE_CANVAS_BUS_URL`).

Each engine is a package beside this module that names its `BusEngine` as `ENGINE`; the
one whose schemes include the URL's is used, so a new engine is a new folder and nothing
here names one."""

from __future__ import annotations

import importlib
import pkgutil

import app.bus
from app.bus.ports import BusEngine
from app.errors import BusError
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
