# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034
# A throwaway PgBouncer in transaction pooling mode in front of the cluster of postgres.sh; source
# it, do not run it.
#
#   errand_pg_start && errand_pgbouncer_start   # after the cluster
#   ...                                          # sees ERRAND_TEST_PGBOUNCER_URL
#   errand_pgbouncer_stop                        # before errand_pg_stop
#
# errand_pgbouncer_start writes a configuration in a new temporary directory (as the `postgres`
# user when root: PgBouncer refuses to run as root), listens on 127.0.0.1 on a free port (6432
# upward), forwards every database to ERRAND_TEST_PG_URL's server with pool_mode = transaction and
# trust authentication, and exports
#   ERRAND_TEST_PGBOUNCER_URL  postgres://postgres@127.0.0.1:PORT/postgres?pooler=transaction
# It returns non-zero with a clear message and the log's tail when PgBouncer cannot start.
# errand_pgbouncer_stop stops it and removes the directory; idempotent and safe in traps.

if ! declare -F errand_log >/dev/null; then
  # shellcheck source=common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

ERRAND_PGBOUNCER_PACKAGES=(pgbouncer)

errand_pgbouncer_fail() {
  printf 'error: could not start a throwaway PgBouncer: %s\n' "$1" >&2
  local file
  for file in "${2:-}/start.log" "${2:-}/pgbouncer.log"; do
    [[ -n ${2:-} && -s $file ]] || continue
    printf -- '--- last lines of %s ---\n' "${file##*/}" >&2
    tail -n 30 "$file" >&2
  done
  [[ -n ${2:-} && -z ${ERRAND_KEEP_PGBOUNCER_DIR:-} ]] && rm -rf "$2"
  unset ERRAND_PGBOUNCER_DIR
  return 1
}

errand_pgbouncer_start() {
  if [[ -n ${ERRAND_PGBOUNCER_DIR:-} ]]; then
    errand_warn "errand_pgbouncer_start: PgBouncer already runs in $ERRAND_PGBOUNCER_DIR"
    return 0
  fi
  unset ERRAND_TEST_PGBOUNCER_URL
  [[ ${ERRAND_TEST_PG_URL:-} =~ ^postgres://([^@/]+)@([^:/]+):([0-9]+)/ ]] ||
    errand_pgbouncer_fail "no cluster to forward to (start it first: ERRAND_TEST_PG_URL)" ||
    return 1
  local pg_user=${BASH_REMATCH[1]} pg_host=${BASH_REMATCH[2]} pg_port=${BASH_REMATCH[3]}
  local binary
  binary=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  [[ -x $binary ]] || errand_pgbouncer_fail "pgbouncer not found (apt-get install pgbouncer)" ||
    return 1
  local as=()
  [[ $(id -u) -eq 0 ]] && as=(runuser -u postgres --)

  local parent="${ERRAND_PG_TMPDIR:-${TMPDIR:-/tmp}}" dir
  dir=$(mktemp -d "$parent/errand-pgbouncer.XXXXXX") ||
    errand_pgbouncer_fail "mktemp -d in $parent failed" || return 1
  ERRAND_PGBOUNCER_DIR="$dir"
  chmod 0755 "$dir"
  printf '"%s" ""\n' "$pg_user" >"$dir/userlist.txt"

  local port="${ERRAND_PGBOUNCER_PORT:-6432}" last=$((${ERRAND_PGBOUNCER_PORT:-6432} + 200))
  local started=0
  for (( ; port < last; port++)); do
    errand_pg_port_free "$port" || continue
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_host port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 80
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    : >"$dir/pgbouncer.log"
    ((${#as[@]})) && chown -R postgres:postgres "$dir"
    "${as[@]}" "$binary" -d "$dir/pgbouncer.ini" >>"$dir/start.log" 2>&1 </dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      [[ -s $dir/pgbouncer.pid ]] && ! errand_pg_port_free "$port" && break
      grep -q 'Address already in use' "$dir/pgbouncer.log" && break
      sleep 0.1
    done
    if [[ -s $dir/pgbouncer.pid ]] && ! errand_pg_port_free "$port"; then
      started=1
      break
    fi
    grep -q 'Address already in use' "$dir/pgbouncer.log" || break
    errand_warn "PgBouncer: port $port was taken meanwhile, trying the next one"
  done
  ((started)) || errand_pgbouncer_fail "pgbouncer did not start (last port tried: $port)" "$dir" ||
    return 1
  export ERRAND_TEST_PGBOUNCER_URL="postgres://$pg_user@127.0.0.1:$port/postgres?pooler=transaction"
  errand_log "PgBouncer $("$binary" --version | awk 'NR==1 {print $2}') (transaction pooling) at 127.0.0.1:$port in front of $pg_host:$pg_port"
}

# Stops the PgBouncer of errand_pgbouncer_start and removes its directory; safe to call twice.
errand_pgbouncer_stop() {
  local dir="${ERRAND_PGBOUNCER_DIR:-}"
  [[ -n $dir ]] || return 0
  if [[ -s $dir/pgbouncer.pid ]]; then
    local pid i
    pid=$(cat "$dir/pgbouncer.pid")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -rf "$dir"
  unset ERRAND_PGBOUNCER_DIR ERRAND_TEST_PGBOUNCER_URL
  return 0
}
