"""The shared store: closed candles in PostgreSQL (`TRADE_CANVAS_STORE_URL=postgresql://...`)."""

from app.store.postgres.store import PostgresCandleStore

__all__ = ["PostgresCandleStore"]
