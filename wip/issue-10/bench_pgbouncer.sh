#!/usr/bin/env bash
set -uo pipefail
cd /work/main
source scripts/lib/common.sh; source scripts/lib/postgres.sh; source scripts/lib/pgbouncer.sh
errand_pg_start >/dev/null 2>&1 || exit 1
errand_pgbouncer_start >/dev/null 2>&1 || { errand_pg_stop; exit 1; }
trap 'errand_pgbouncer_stop >/dev/null 2>&1; errand_pg_stop >/dev/null 2>&1' EXIT
NEW=${ERRAND_BIN:-build/tools/errand/errand}  # a Release build of HEAD (scripts/demo builds it)
J=${JOBS:-200000}
run() { local label=$1 url=$2; shift 2
  "$NEW" bench --db "$url" --jobs "$J" --skip enqueue,latency,listen --json "$@" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sys.argv[1], d["drain_jobs_per_s"], d["cpu_ms_per_1000_jobs"], d["lock_lost"])' "$label"; }
for i in 1 2 3; do
  echo "== $(uptime)"
  run direct-1 "$ERRAND_TEST_PG_URL"
  run pgbouncer-1 "$ERRAND_TEST_PGBOUNCER_URL"
  run direct-2 "$ERRAND_TEST_PG_URL" --workers 2
  run pgbouncer-2 "$ERRAND_TEST_PGBOUNCER_URL" --workers 2
done
