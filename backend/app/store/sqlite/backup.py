"""Backups of the SQLite store, and their restore.

A backup is SQLite's online backup of the file, copied in one step within one read
transaction: a consistent store as of that moment, taken while the server goes on writing
(WAL lets it), holding every candle committed before the backup started. It is written
beside its destination and renamed into place once synced, so a destination never holds
half a backup.

A restore checks the backup whole first (every candle read, SQLite's integrity check, a
schema this server can read) and refuses while any process holds the store: every process
that opens the store holds `<store>.lock` shared, and a restore takes it exclusively, so a
server cannot start on a file being replaced either. The file replaced is kept beside it
(`<store>.before-restore-<time>`), never deleted.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from app.errors import StoreError
from app.store.sqlite.check import Progress, check_store
from app.store.sqlite.lock import holding
from app.store.sqlite.schema import SCHEMA_VERSION, connect


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    bytes: int
    series: int
    seconds: float


def backup(store: Path, to: Path) -> Backup:
    """A consistent copy of the store at `to`, while other processes may write it."""
    if not store.is_file():
        raise StoreError(f"no candle store at {store}")
    if to.resolve() == store.resolve():
        raise StoreError("a backup cannot be written over the store it copies")
    started = time.monotonic()
    partial = to.with_name(f".{to.name}.partial")
    try:
        source = connect(str(store), read_only=True)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open candle store {store}: {e}") from e
    try:
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            source.backup(target, pages=-1)  # one step: one read transaction, consistent
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            series = int(target.execute("SELECT count(*) FROM series").fetchone()[0])
        finally:
            target.close()
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, to)
    except (sqlite3.Error, OSError) as e:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup of {store} to {to} failed: {e}") from e
    finally:
        source.close()
    return Backup(to, to.stat().st_size, series, time.monotonic() - started)


def restore(source: Path, store: Path, progress: Progress) -> Path | None:
    """Install the backup `source` as the store, once it reads whole; returns where the
    file it replaced is kept (None: there was none). Raises `StoreError` with what is
    wrong, the store untouched."""
    if not source.is_file():
        raise StoreError(f"no backup at {source}")
    version = _schema_version(source)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{source} has store schema {version}, newer than this server's "
            f"({SCHEMA_VERSION}): restore it with the version that wrote it"
        )
    checked = check_store(source, progress)
    if checked.problems:
        raise StoreError(f"{source} is not a sound store: {'; '.join(checked.problems[:5])}")
    with holding(store, exclusive=True):
        installing = store.with_name(f".{store.name}.restoring")
        suffix = f".before-restore-{time.strftime('%Y%m%dT%H%M%S')}"
        kept = Path(f"{store}{suffix}") if store.exists() else None
        try:
            with open(source, "rb") as src, open(installing, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            # The replaced file and its write-ahead log, kept together (a log left beside
            # the restored file would be replayed into it).
            for old in (store, Path(f"{store}-wal"), Path(f"{store}-shm")):
                if old.exists():
                    os.replace(old, Path(f"{old}{suffix}"))
            os.replace(installing, store)
        except OSError as e:
            installing.unlink(missing_ok=True)
            raise StoreError(f"restoring {source} to {store} failed: {e}") from e
    return kept


def _schema_version(path: Path) -> int:
    try:
        conn = connect(str(path), read_only=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StoreError(f"{path} is not a candle store: {e}") from e
