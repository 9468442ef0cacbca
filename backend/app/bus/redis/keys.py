"""The Redis keys one cluster uses (a prefix keeps clusters sharing a Redis apart)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "tc"

    @property
    def closed(self) -> str:
        """Stream: closed candles and errors, in commit order."""
        return f"{self.prefix}:closed"

    @property
    def forming(self) -> str:
        """Pub/sub channel: forming candles (newest state only matters)."""
        return f"{self.prefix}:forming"

    @property
    def wanted(self) -> str:
        """Sorted set: `series_id<US>holder` scored by the lease's expiry (ms)."""
        return f"{self.prefix}:wanted"

    @property
    def demand(self) -> str:
        """Pub/sub channel: the wanted set changed, reconcile now."""
        return f"{self.prefix}:demand"

    @property
    def asks(self) -> str:
        """List: requests for work only the leader does (`asks`)."""
        return f"{self.prefix}:asks"

    def ask_reply(self, request_id: str) -> str:
        """List: the leader's answer to one request (expires unread)."""
        return f"{self.prefix}:ask:{request_id}"

    @property
    def state(self) -> str:
        """String: the leader's ingest state (JSON), expiring unless renewed."""
        return f"{self.prefix}:ingest_state"


DEFAULT_KEYS = Keys()
