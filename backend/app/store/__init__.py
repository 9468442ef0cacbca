"""The candle store: the port the core uses (`ports`), and its engines (`sqlite/`)."""

from app.candle import CandleRow
from app.store.factory import build_store, describe_store, store_file
from app.store.ports import (
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
    "build_store",
    "describe_store",
    "store_file",
]
