"""PostgresLeaderLock: who leads ingest, decided by a session advisory lock.

The lock lives on a connection of its own: when the leader dies its connection closes and
PostgreSQL frees the lock at once, so a standby's next try succeeds. Taking it moves the
fencing epoch (`tc_leader`), which the store then checks in every write: a leader that
lost its lock without noticing (a stalled process) cannot commit over its successor."""

from __future__ import annotations

from typing import Final

import asyncpg

from app.errors import StoreError
from app.redact import safe_url
from app.store.postgres.store import _DB_ERRORS, PostgresCandleStore

_LEADER_LOCK: Final = 0x7472_6164_656C_6472  # "tradeldr"


class PostgresLeaderLock:
    def __init__(self, store: PostgresCandleStore, node: str) -> None:
        self._store = store
        self._node = node
        self._conn: asyncpg.Connection | None = None

    async def try_lead(self) -> int | None:
        """The new fencing epoch if this process now leads, else None. Raises `StoreError`."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._store.dsn, timeout=10)
            if not await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                return None
            epoch = await self._conn.fetchval(
                "UPDATE tc_leader SET epoch = epoch + 1, node = $1, since = now() "
                "WHERE id = 1 RETURNING epoch",
                self._node,
            )
        except _DB_ERRORS as e:
            await self.close()
            raise StoreError(f"cannot take the lead at {safe_url(self._store.dsn)}: {e}") from e
        self._store.fence(int(epoch))
        return int(epoch)

    async def holds(self) -> bool:
        """Whether the lock is still ours: its connection still answers."""
        if self._conn is None or self._conn.is_closed():
            return False
        try:
            await self._conn.fetchval("SELECT 1", timeout=5)
        except _DB_ERRORS:
            await self.close()
            return False
        return True

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
