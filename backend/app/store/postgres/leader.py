"""PostgresLeaderLock: who leads ingest, decided by a lease in the one row of `tc_leader`.

The leader renews its lease (`expires`, on the database's clock) from its event loop every
third of the TTL; a standby takes the row only once the lease has run out. So a leader that
dies, and one that stops answering (`SIGSTOP`, a hung loop, a paused VM) while its
connection lives on, are both replaced within the TTL of their last renewal (a session
advisory lock stays with a frozen process for as long as its connection does).

Taking the lead moves the fencing epoch, which the store then checks in every write: a
leader that lost its lease without noticing (it was frozen) cannot commit over its
successor, and its next renewal finds the epoch moved and steps it down."""

from __future__ import annotations

import contextlib

import asyncpg

from app.errors import StoreError
from app.redact import safe_url
from app.store.postgres.store import _DB_ERRORS, PostgresCandleStore

# A renewal or a try that takes longer than this is taken as lost (the lease runs meanwhile).
_ASK_TIMEOUT_S = 5.0


class PostgresLeaderLock:
    def __init__(self, store: PostgresCandleStore, node: str, *, ttl_s: float) -> None:
        self._store = store
        self._node = node
        self._ttl_s = ttl_s
        self._conn: asyncpg.Connection | None = None
        self._epoch: int | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._store.dsn, timeout=10)
        return self._conn

    async def try_lead(self) -> int | None:
        """The new fencing epoch if this process now leads, else None. Raises `StoreError`."""
        try:
            conn = await self._connection()
            epoch = await conn.fetchval(
                "UPDATE tc_leader SET epoch = epoch + 1, node = $1, since = now(), "
                "expires = now() + make_interval(secs => $2) "
                "WHERE id = 1 AND (expires IS NULL OR expires <= now()) RETURNING epoch",
                self._node, self._ttl_s, timeout=_ASK_TIMEOUT_S,
            )  # fmt: skip
        except _DB_ERRORS as e:
            self._drop()
            raise StoreError(f"cannot take the lead at {safe_url(self._store.dsn)}: {e}") from e
        if epoch is None:
            return None
        self._epoch = int(epoch)
        self._store.fence(self._epoch)
        return self._epoch

    async def holds(self) -> bool:
        """Renew the lease; whether this process still leads (no one took the row since)."""
        if self._epoch is None:
            return False
        try:
            conn = await self._connection()
            renewed = await conn.fetchval(
                "UPDATE tc_leader SET expires = now() + make_interval(secs => $2) "
                "WHERE id = 1 AND epoch = $1 RETURNING epoch",
                self._epoch, self._ttl_s, timeout=_ASK_TIMEOUT_S,
            )  # fmt: skip
        except _DB_ERRORS:
            self._drop()
            return False
        if renewed is None:
            self._epoch = None
            return False
        return True

    def _drop(self) -> None:
        """Forget the connection and the lead, which then runs out by itself."""
        conn, self._conn, self._epoch = self._conn, None, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        """Give the lease up (a standby need not wait out the TTL) and the connection."""
        conn, self._conn = self._conn, None
        epoch, self._epoch = self._epoch, None
        if conn is None:
            return
        if epoch is not None and not conn.is_closed():
            # If this fails the lease runs out by itself.
            with contextlib.suppress(*_DB_ERRORS):
                await conn.execute(
                    "UPDATE tc_leader SET expires = now() WHERE id = 1 AND epoch = $1",
                    epoch, timeout=_ASK_TIMEOUT_S,
                )  # fmt: skip
        conn.terminate()
