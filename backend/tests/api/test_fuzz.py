"""schemathesis over the server's own OpenAPI document, against a real server on loopback
with the ingest API on behind a token: no 5xx, responses as documented, and every request
the document calls valid is accepted.

The document states what the server enforces: series ids by a pattern `parse_series_id`
accepts exactly, `since`/`before` as exclusive bounds that may be combined. One operation
keeps rules JSON Schema cannot express (a candle's OHLC order and its alignment to the
series' timeframe), stated in its description: for the ingest endpoint alone,
`positive_data_acceptance` is off; a candle breaking them is a documented 400."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import SettingsFactory
from tests.support import live_server

EXAMPLES = 40
CONFIG = """
[[operations]]
include-path = "/api/market/ingest/candle_closed"
checks.positive_data_acceptance.enabled = false
"""


async def test_schemathesis_finds_no_server_error_or_schema_mismatch(
    make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency"
    settings = make_settings(ingest_token="fuzz-token")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    async with live_server(settings) as server:
        proc = await asyncio.create_subprocess_exec(
            cli, "--config-file", str(config), "run", f"{server.base_url}/api/openapi.json",
            "--max-examples", str(EXAMPLES), "--seed", "20261123",
            "--header", "Authorization: Bearer fuzz-token",
            "--generation-database", "none", "--no-color",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
        report = out.decode(errors="replace")
        metrics = (await server.http.get("/metrics")).text
    assert proc.returncode == 0, report[-6000:]
    assert "Tested: 11" in report, report[-3000:]
    assert 'status="5' not in metrics
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
