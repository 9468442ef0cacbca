#!/usr/bin/env bash
# Set up (if needed) and run the server on the embedded SQLite store.
# Extra arguments go to `trade-canvas serve`, e.g. --port 8001.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/trade-canvas serve "$@"
