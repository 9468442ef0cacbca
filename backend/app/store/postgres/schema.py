"""The PostgreSQL schema and its migrations, keyed by the one row of `tc_schema`."""

from __future__ import annotations

from typing import Final

import asyncpg

from app.errors import StoreError

# Entry i holds the statements that migrate from version i to i + 1; append, never edit.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
    CREATE TABLE series (
        series_key bigserial PRIMARY KEY,
        series_id  text NOT NULL UNIQUE,
        first_time bigint,
        head_time  bigint,
        row_count  bigint NOT NULL DEFAULT 0,
        -- Moves with every write to the series: names a page's answer for caches in any
        -- process reading this database.
        generation bigint NOT NULL DEFAULT 0
    )""",
        """
    CREATE TABLE candles (
        series_key  bigint NOT NULL,
        candle_time bigint NOT NULL,
        open   float8 NOT NULL,
        high   float8 NOT NULL,
        low    float8 NOT NULL,
        close  float8 NOT NULL,
        volume float8 NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    )""",
        """
    CREATE TABLE history_imports (
        series_key       bigint PRIMARY KEY REFERENCES series (series_key),
        signature        text NOT NULL,
        imported_through bigint,
        complete         boolean NOT NULL DEFAULT false,
        file_rows        bigint
    )""",
        """
    CREATE TABLE kline_extras (
        series_key         bigint NOT NULL,
        candle_time        bigint NOT NULL,
        quote_volume       float8 NOT NULL,
        trades             bigint NOT NULL,
        taker_base_volume  float8 NOT NULL,
        taker_quote_volume float8 NOT NULL,
        PRIMARY KEY (series_key, candle_time)
    )""",
    ),
    (
        # The ingest leader's fencing token: a new leader moves `epoch`, and every write of
        # a leader checks its own is still the one here (FOR SHARE: the move waits for
        # writes in flight, then none of the old leader's commits).
        """
    CREATE TABLE tc_leader (
        id    integer PRIMARY KEY CHECK (id = 1),
        epoch bigint NOT NULL,
        node  text,
        since timestamptz
    )""",
        "INSERT INTO tc_leader VALUES (1, 0, NULL, NULL)",
    ),
    (
        # The lead is a lease its holder renews (not a session lock a frozen holder keeps).
        "ALTER TABLE tc_leader ADD COLUMN expires timestamptz",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
# Servers starting at once migrate one at a time.
_MIGRATION_LOCK: Final = 0x7472_6164_6563_616E  # "tradecan"


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`; return the version found before."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS tc_schema (version integer NOT NULL)")
        found = await conn.fetchval("SELECT version FROM tc_schema")
        if found is None:
            await conn.execute("INSERT INTO tc_schema VALUES (0)")
            found = 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"store schema version {found} is newer than this server ({SCHEMA_VERSION})"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
        await conn.execute("UPDATE tc_schema SET version = $1", SCHEMA_VERSION)
    return int(found)
