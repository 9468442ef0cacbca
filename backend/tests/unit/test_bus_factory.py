"""The bus engine is picked by the URL's scheme from the engines' own folders."""

from __future__ import annotations

import pytest

from app.bus.factory import engine_for
from app.bus.redis import ENGINE as REDIS_ENGINE
from app.errors import BusError


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "REDIS://h/1", "rediss://h:6380", "unix:///tmp/r.sock"]
)
def test_each_redis_scheme_finds_the_redis_engine(url: str) -> None:
    assert engine_for(url) is REDIS_ENGINE


def test_a_scheme_no_engine_speaks_is_refused_without_its_secret() -> None:
    with pytest.raises(BusError, match="no bus engine speaks") as refused:
        engine_for("nats://user:hunter2@host:4222")
    assert "hunter2" not in str(refused.value)
