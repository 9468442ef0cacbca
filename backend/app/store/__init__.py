"""The embedded SQLite candle store."""

from app.candle import CandleRow
from app.store.candle_store import (
    CandlePage,
    CandleStore,
    Conflict,
    ImportProgress,
    SeriesStats,
    UpsertResult,
)

__all__ = [
    "CandlePage",
    "CandleRow",
    "CandleStore",
    "Conflict",
    "ImportProgress",
    "SeriesStats",
    "UpsertResult",
]
