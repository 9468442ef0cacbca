"""The one place an engine is chosen for the store the settings name."""

from __future__ import annotations

from pathlib import Path

from app.metrics import Metrics
from app.store.ports import CandleStore
from app.store.sqlite import SqliteCandleStore
from app.store.sqlite.check import check_store

__all__ = ["build_store", "check_store"]


def build_store(path: Path, metrics: Metrics, *, read_threads: int = 1) -> CandleStore:
    """The store at `path` (`DB_PATH`), not yet opened."""
    return SqliteCandleStore(path, metrics, read_threads=read_threads)
