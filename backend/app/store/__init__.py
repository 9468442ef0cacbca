"""The candle store: the port the core uses (`ports`), and its engines (`sqlite/`)."""

from app.candle import CandleRow
from app.store.factory import build_leader_lock, build_store, describe_store, store_file
from app.store.ports import (
    CandlePage,
    CandleStore,
    Conflict,
    ImportProgress,
    LeaderLock,
    SeriesStats,
    UpsertResult,
)

__all__ = [
    "CandlePage",
    "CandleRow",
    "CandleStore",
    "Conflict",
    "ImportProgress",
    "LeaderLock",
    "SeriesStats",
    "UpsertResult",
    "build_leader_lock",
    "build_store",
    "describe_store",
    "store_file",
]
