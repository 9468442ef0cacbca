#!/usr/bin/env bash
# Install everything trade-canvas needs: ./.venv (Python), node_modules and the built chart
# (frontend/dist); with --browser also what the tests need from Debian (Chromium for the
# end-to-end tests, PostgreSQL's server binaries and redis-server for the store and
# cluster tests, Prometheus for the operations tests); with --servers those two alone (scripts/run-cluster.sh).
# Safe to re-run: it skips what is already up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# A venv whose creation was cut off has a python but no pip: make it again.
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.trade-canvas-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    echo "$want" > "$stamp"
fi

node_stamp=node_modules/.trade-canvas-installed
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$node_stamp" ] || [ "$(cat "$node_stamp")" != "$want" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$node_stamp"
fi
# Rebuild the chart only when its sources changed (a build is tsc plus Vite, seconds).
build_stamp=frontend/dist/.trade-canvas-built
want=$(find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json \
    package-lock.json -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f "$build_stamp" ] || [ "$(cat "$build_stamp")" != "$want" ]; then
    npm run --silent build >/dev/null
    echo "$want" > "$build_stamp"
fi

if [ "${1:-}" = "--browser" ] || [ "${1:-}" = "--servers" ]; then
    # What the tests and the cluster script run besides Python and Node, from Debian:
    # Chromium (Playwright's own browser download needs the internet; tests only),
    # PostgreSQL's server binaries and redis-server (throwaway instances are started
    # with them; no server is left running).
    packages=()
    if [ "${1:-}" = "--browser" ]; then
        [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || packages+=(chromium)
        # The operations tests check the alert rules and scrape a server with Prometheus.
        command -v promtool >/dev/null || packages+=(prometheus)
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
    command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || packages+=(redis-server)
    if [ ${#packages[@]} -gt 0 ]; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
fi
