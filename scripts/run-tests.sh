#!/usr/bin/env bash
# Set up (if needed) and run every check: lint, types, the backend tests, the chart's unit
# tests and its end-to-end tests in Chromium. Exits non-zero when anything fails.
# Arguments go to pytest (e.g. -k live); the frontend suites then still run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --browser
mkdir -p output
echo "== ruff"
.venv/bin/ruff check backend scripts
.venv/bin/ruff format --check backend scripts
echo "== mypy"
.venv/bin/mypy
echo "== api types"
# The chart's API types are generated from the server's OpenAPI document: they must match.
PYTHONPATH=backend .venv/bin/python scripts/openapi_document.py > output/openapi.json
npx openapi-typescript output/openapi.json --immutable -o output/api.schema.ts >/dev/null
if ! diff -u frontend/src/api.schema.ts output/api.schema.ts; then
  echo "frontend/src/api.schema.ts is out of date: run npm run api:types" >&2
  exit 1
fi
echo "== tsc"
npx tsc -p frontend
npx tsc -p frontend/e2e
echo "== pytest"
.venv/bin/python -m pytest "$@"
echo "== vitest"
npm run --silent test:unit
echo "== playwright"
npm run --silent test:e2e
