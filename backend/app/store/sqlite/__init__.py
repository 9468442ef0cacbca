"""The embedded store: closed candles in one SQLite file."""

from app.store.sqlite.store import SqliteCandleStore

__all__ = ["SqliteCandleStore"]
