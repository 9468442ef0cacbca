"""Background tasks: every one is started named, kept while it runs, its failure logged,
and cancelled on shutdown.

`spawn` starts a single task; `KeyedTasks` keeps at most one task per key (one import, one
download, one live job per series) and forgets each when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Hashable, ItemsView, KeysView
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def log_crash(task: asyncio.Task[Any]) -> None:
    """Done-callback: a background task that died of an exception is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s crashed", task.get_name(), exc_info=task.exception())


def spawn(coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(log_crash)
    return task


class KeyedTasks(Generic[K, T]):
    def __init__(self, label: str) -> None:
        self._label = label
        self._tasks: dict[K, asyncio.Task[T]] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def keys(self) -> KeysView[K]:
        return self._tasks.keys()

    def items(self) -> ItemsView[K, asyncio.Task[T]]:
        return self._tasks.items()

    def get(self, key: K) -> asyncio.Task[T] | None:
        return self._tasks.get(key)

    def start(self, key: K, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coro` as the task of `key`; one still running for `key` is cancelled."""
        previous = self._tasks.pop(key, None)
        if previous is not None:
            previous.cancel()
        task = self._tasks[key] = spawn(coro, f"{self._label} {key}")
        task.add_done_callback(lambda t: self._forget(key, t))
        return task

    def _forget(self, key: K, task: asyncio.Task[T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    def discard(self, key: K) -> None:
        """Cancel the task of `key` without waiting for it to end."""
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    async def cancel(self, key: K) -> None:
        """Cancel the task of `key` and wait for it to end."""
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
