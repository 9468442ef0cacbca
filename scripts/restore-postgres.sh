#!/usr/bin/env bash
# Restore a backup made by backup-postgres.sh into a trade-canvas PostgreSQL store, with
# every trade-canvas process stopped. The archive is read whole first (a damaged one is
# refused before the database is touched); the restore is one transaction, so a failure
# leaves the database as it was. Tables the backup holds are replaced.
#
#   scripts/restore-postgres.sh postgresql://user:password@host:5432/db FILE
set -euo pipefail
url="${1:?usage: restore-postgres.sh STORE_URL FILE}"
file="${2:?usage: restore-postgres.sh STORE_URL FILE}"
pg_restore --list "$file" > /dev/null
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
  --exit-on-error --dbname="$url" "$file"
echo "$file restored to the store"
