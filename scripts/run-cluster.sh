#!/usr/bin/env bash
# A trade-canvas cluster on this machine: a throwaway PostgreSQL and Redis (Debian's
# packages, in a temporary directory, unix sockets only), a local Binance (sped up with
# SPEED, default 1), two ingest processes competing to lead and two API replicas.
# Prints the URLs; Ctrl-C stops everything. Kill a process (kill -9) to watch a standby
# take over or a replica's clients stay on the other.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --servers

run=$(mktemp -d /tmp/trade-canvas-cluster.XXXXXX)
pids=()
as_pg=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -d "$run/pg" ] && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$run/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$run"
}
trap cleanup EXIT INT TERM

pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$run"
    as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$pgbin/initdb" -D "$run/pg" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$run/pg" -l "$run/postgres.log" -w \
    -o "-k $run -c listen_addresses=''" start >/dev/null
redis-server --port 0 --unixsocket "$run/redis.sock" --save '' --appendonly no \
    --dir "$run" >"$run/redis.log" 2>&1 &
pids+=($!)

.venv/bin/trade-canvas fake-binance --rest-port 0 --spot-ws-port 0 --futures-ws-port 0 \
    --speed "${SPEED:-1}" --history-days 2 >"$run/binance.out" 2>&1 &
pids+=($!)
until grep -q '^export TRADE_CANVAS_BINANCE_SPOT_REST_URL' "$run/binance.out" 2>/dev/null \
    && [ -S "$run/redis.sock" ]; do sleep 0.1; done
# shellcheck disable=SC1090
source <(grep '^export ' "$run/binance.out")

export TRADE_CANVAS_STORE_URL="postgresql://postgres@/postgres?host=$run"
export TRADE_CANVAS_BUS_URL="unix://$run/redis.sock"
export TRADE_CANVAS_WHITELIST=${TRADE_CANVAS_WHITELIST:-binance:spot:BTC/USDT:1m,binance:spot:ETH/USDT:1m}
export TRADE_CANVAS_MARKET_HISTORY_SOURCE=${TRADE_CANVAS_MARKET_HISTORY_SOURCE:-ccxt}
export TRADE_CANVAS_ENABLE_DEBUG_API=1
port=${PORT:-8000}
for role in ingest ingest api api; do
    .venv/bin/trade-canvas serve --role "$role" --port "$port" >"$run/$role-$port.log" 2>&1 &
    pids+=($!)
    echo "$role: http://127.0.0.1:$port (log $run/$role-$port.log, pid $!)"
    port=$((port + 1))
done
echo "store: $TRADE_CANVAS_STORE_URL"
echo "bus:   $TRADE_CANVAS_BUS_URL"
echo "who leads: curl -s http://127.0.0.1:${PORT:-8000}/api/market/debug/ingest_state | jq .cluster"
wait -n "${pids[@]}"
