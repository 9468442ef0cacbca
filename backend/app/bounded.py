"""Per-series tables that outside requests can grow are kept bounded by this one rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def forget_oldest_idle(table: dict[K, V], idle: Callable[[K, V], bool], limit: int) -> None:
    """Past `limit` entries, drop the oldest `idle` ones (insertion order) until half the
    limit is left, so a full table is pruned now and then, not on every insert."""
    if len(table) < limit:
        return
    for key in [k for k, v in table.items() if idle(k, v)]:
        del table[key]
        if len(table) < limit // 2:
            return
