#!/usr/bin/env bash
# Set up (if needed) and run every check: lint, types, and the whole test suite.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p output
echo "== ruff"
.venv/bin/ruff check backend scripts
.venv/bin/ruff format --check backend scripts
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
