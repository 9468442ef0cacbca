"""The recorded data the tests read, written by other software, in one place: freqtrade
datadirs and live Binance WebSocket sessions (`../shared/fixtures`, never copied in). The
end-to-end tests name the same folder in `frontend/e2e/stack.mjs`."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
# freqtrade datadirs: feather (and json) files, and the same candles as parquet.
DATADIR = FIXTURES / "freqtrade-datadir"
PARQUET_DATADIR = FIXTURES / "freqtrade-datadir-parquet"
# Live Binance sessions, spot and USDT-M futures: a URL header, then one frame per line.
BINANCE_SESSIONS = FIXTURES / "binance-ws"
RECORDINGS = sorted(BINANCE_SESSIONS.glob("*.txt"))


def frames(path: Path) -> list[str]:
    """The frames of one recorded session, as they arrived."""
    lines = path.read_text().splitlines()
    assert " <-> " in lines[0]  # the URL header
    return [line.split(": ", 1)[1] for line in lines[1:] if line.strip()]
