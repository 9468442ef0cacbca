"""The venues series ids may name: each venue's package states its facts, registered here
when the `app` package is imported (so before any series id is parsed)."""

from app.exchanges.binance.spec import SPEC as BINANCE
from app.exchanges.bybit.spec import SPEC as BYBIT
from app.series import register_venue

for _spec in (BINANCE, BYBIT):
    register_venue(_spec)
