"""schemathesis over the server's own OpenAPI document, against a real server on loopback
with the ingest API on behind a token: no 5xx, responses as documented.

Every check runs but one: `positive_data_acceptance` expects each schema-valid request to
succeed, and some cannot (since and before together, a candle whose high is below its low,
a candle years ahead): rules between fields that JSON Schema does not express. They are
answered 400 with the error body, which the other checks verify."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import SettingsFactory
from tests.support import live_server

EXAMPLES = 40


async def test_schemathesis_finds_no_server_error_or_schema_mismatch(
    make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency"
    settings = make_settings(ingest_token="fuzz-token")
    async with live_server(settings) as server:
        proc = await asyncio.create_subprocess_exec(
            cli, "run", f"{server.base_url}/api/openapi.json",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
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
    assert "Tested: 8" in report, report[-3000:]
    assert 'status="5' not in metrics
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
