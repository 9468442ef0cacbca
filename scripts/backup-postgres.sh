#!/usr/bin/env bash
# A consistent backup of a trade-canvas PostgreSQL store while the server writes:
# pg_dump reads one snapshot of the database (a repeatable-read transaction), in its
# custom format (compressed, restorable table by table). Written beside FILE and renamed
# into place once whole, so FILE never holds half a backup.
#
#   scripts/backup-postgres.sh postgresql://user:password@host:5432/db FILE
set -euo pipefail
url="${1:?usage: backup-postgres.sh STORE_URL FILE}"
file="${2:?usage: backup-postgres.sh STORE_URL FILE}"
partial="$(dirname "$file")/.$(basename "$file").partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --no-owner --no-privileges --dbname="$url" --file="$partial"
sync "$partial"
mv "$partial" "$file"
echo "$file: $(stat -c %s "$file") bytes"
