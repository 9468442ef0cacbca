"""The store's lock file, `<store>.lock`: held shared by every process that opens the
store (a server, an import), exclusively by a restore replacing the file. `flock`, not
SQLite's own locks: those guard a transaction, this guards the file's identity."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from app.errors import StoreError


def lock_path(store: Path) -> Path:
    return Path(f"{store}.lock")


@contextlib.contextmanager
def holding(store: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the store's lock: shared by every process using the store, exclusive for a
    restore. Raises `StoreError` at once (no wait) when the other kind is held."""
    lock = lock_path(store)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"cannot open candle store {store}: {e}") from e
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"{store} is in use by another process (a server, an import): stop it first"
                if exclusive
                else f"{store} is being restored from a backup: start again once it is done"
            ) from None
        yield
    finally:
        os.close(fd)  # (releases the lock)
