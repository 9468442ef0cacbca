"""The embedded SQLite candle store."""

from app.candle import CandleRow
from app.store.candle_store import CandleStore, SeriesStats, UpsertResult

__all__ = ["CandleRow", "CandleStore", "SeriesStats", "UpsertResult"]
