"""The one place an engine is chosen for the store the settings name."""

from __future__ import annotations

from pathlib import Path

from app.errors import ConfigError
from app.metrics import Metrics
from app.redact import safe_url
from app.store.ports import CandleStore, LeaderLock
from app.store.postgres import PostgresCandleStore
from app.store.postgres.leader import PostgresLeaderLock
from app.store.sqlite import SqliteCandleStore
from app.store.sqlite.check import check_store

__all__ = ["build_leader_lock", "build_store", "check_store", "describe_store", "store_file"]


def build_store(
    url: str | None, path: Path, metrics: Metrics, *, read_threads: int = 1, pool_size: int = 4
) -> CandleStore:
    """The store `STORE_URL` names (unset: the SQLite file at `DB_PATH`), not yet opened."""
    file = store_file(url, path)
    if file is not None:
        return SqliteCandleStore(file, metrics, read_threads=read_threads)
    if url is not None and url.startswith(("postgresql://", "postgres://")):
        return PostgresCandleStore(url, metrics, pool_size=pool_size)
    raise ConfigError(f"no store engine for {safe_url(url or '')} (sqlite:/// or postgresql://)")


def build_leader_lock(store: CandleStore, node: str, *, ttl_s: float) -> LeaderLock:
    """The leader election of processes sharing `store` (a database server only); a lead
    not renewed for `ttl_s` is another's to take."""
    if isinstance(store, PostgresCandleStore):
        return PostgresLeaderLock(store, node, ttl_s=ttl_s)
    raise ConfigError("processes share a PostgreSQL store only (TRADE_CANVAS_STORE_URL)")


def store_file(url: str | None, path: Path) -> Path | None:
    """The SQLite file the store is, or None for a database server."""
    if url is None:
        return path
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def describe_store(url: str | None, path: Path) -> str:
    """The store for people: its engine and where (never a password)."""
    file = store_file(url, path)
    return f"SQLite {file.resolve()}" if file is not None else f"PostgreSQL {safe_url(url or '')}"
