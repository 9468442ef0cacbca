"""A least-recently-used map bounded by the summed cost of its values (rows, bytes), for
the hot path's repeated reads: a bot fleet and a chart audience ask the same pages."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CostBoundedLru(Generic[K, V]):
    def __init__(self, max_cost: int) -> None:
        self._max_cost = max_cost
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._cost = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, cost: int) -> None:
        if cost > self._max_cost:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._cost -= old[1]
        self._entries[key] = (value, cost)
        self._cost += cost
        while self._cost > self._max_cost:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._cost -= evicted

    def __len__(self) -> int:
        return len(self._entries)
