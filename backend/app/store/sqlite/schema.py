"""The SQLite schema and its migrations, keyed by `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3
from typing import Final
from urllib.parse import quote

# Entry i holds the statements that migrate from version i to i + 1; append, never edit.
# An integer series key keeps the clustered primary key small, and WITHOUT ROWID stores each
# candle once, in (series_key, candle_time) order, so range reads are sequential.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
    CREATE TABLE series (
        series_key INTEGER PRIMARY KEY,
        series_id  TEXT NOT NULL UNIQUE,
        first_time INTEGER,
        head_time  INTEGER,
        row_count  INTEGER NOT NULL DEFAULT 0
    )""",
        """
    CREATE TABLE candles (
        series_key  INTEGER NOT NULL,
        candle_time INTEGER NOT NULL,
        open   REAL NOT NULL,
        high   REAL NOT NULL,
        low    REAL NOT NULL,
        close  REAL NOT NULL,
        volume REAL NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    ) WITHOUT ROWID""",
    ),
    (
        # How far the datadir import of a series has come, written in the same transaction
        # as the candles it describes, so an interrupted import resumes instead of leaving
        # a hole. `signature` names the file (path, size, mtime); every file candle at or
        # before `imported_through` is committed; `complete` once the whole file is.
        """
    CREATE TABLE history_imports (
        series_key       INTEGER PRIMARY KEY REFERENCES series (series_key),
        signature        TEXT NOT NULL,
        imported_through INTEGER,
        complete         INTEGER NOT NULL DEFAULT 0
    )""",
    ),
    (
        # The candles a completely imported file held: a restart that finds the file
        # unchanged serves it without reading it again.
        "ALTER TABLE history_imports ADD COLUMN file_rows INTEGER",
    ),
    (
        # Binance's quote volume, trade count and taker volumes, where a venue gave them:
        # beside `candles`, so its rows (and every store written before) stay as they are.
        """
    CREATE TABLE kline_extras (
        series_key         INTEGER NOT NULL,
        candle_time        INTEGER NOT NULL,
        quote_volume       REAL NOT NULL,
        trades             INTEGER NOT NULL,
        taker_base_volume  REAL NOT NULL,
        taker_quote_volume REAL NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    ) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    # WAL + NORMAL is durable against application crashes; only an OS crash may lose the
    # last transactions, never corrupt the file.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    # 16 MiB of page cache per connection: inserts arrive in key order and reads are
    # range scans, so a bigger cache buys little and costs resident memory.
    "PRAGMA cache_size=-16384",
)


def connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    # Quoted, so a `#` or `?` in the path is part of the file name, not of the URI.
    uri = f"file:{quote(path)}" + ("?mode=ro" if read_only else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        if read_only and "journal_mode" in pragma:
            continue
        conn.execute(pragma)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`; return the version found before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"store schema version {found} is newer than this server ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
